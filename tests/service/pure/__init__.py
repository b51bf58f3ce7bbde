"""In-process tests of the service's pure parts (no server): what mutation testing reaches."""

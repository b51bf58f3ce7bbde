"""rnnlab: a REST service that trains and serves recurrent networks written in numpy."""

__version__ = "0.1.0"

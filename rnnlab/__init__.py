"""rnnlab: train and serve classic recurrent networks written from scratch in numpy.

The one top-level name the distribution installs: `rnnlab.service` is the web service (the
service/ folder of the repository), `rnnlab.models` the numpy networks (models/), and
`rnnlab.migrations` the database's migrations (migrations/), so that nothing generic such as
`models` lands beside a user's own modules.

An installed wheel holds those folders inside this package. In a checkout they stand beside
it, and are its subpackages all the same: the repository root joins this package's path.
"""

from pathlib import Path

_here = Path(__file__).resolve().parent
if not (_here / "service").is_dir() and (_here.parent / "service" / "__init__.py").is_file():
    __path__.append(str(_here.parent))

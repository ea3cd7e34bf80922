"""localaws: moto's server plus what moto lacks, for development and tests only.

Run ``localaws serve --port 4566`` and point boto3 at it with
``AWS_ENDPOINT_URL=http://127.0.0.1:4566``; see ``localaws.testing.Emulator`` for tests.
"""

__version__ = "0.1.0"

"""Entry point of the rebuild helper process (see :mod:`bot.similarity.parallel`)."""

import sys

from bot.similarity.parallel import serve

if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)

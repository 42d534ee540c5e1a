"""The one exception type that the command line turns into a one-line error."""


class UserError(Exception):
    """Bad input from the user (file, flag, model): reported as one line, exit status 2."""

"""placeholder"""


def add_parser(sub, common):
    pass

def render() -> str:
    return "# todo\n"

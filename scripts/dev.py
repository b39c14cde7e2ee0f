"""The two commands of the Quick start, for any machine with a Python (make or not).

    python3 scripts/dev.py run  [--port N] [...]    what `make run` does
    python3 scripts/dev.py test [pytest args...]    what `make test` does
    python3 scripts/dev.py install                  the virtual environment alone

It checks the Python first, makes the virtual environment (.venv, or --venv DIR) with the
project and its `dev` and `embedded` extras, reinstalls when pyproject.toml changes (or, with
--python-chosen, when another Python made the environment), then hands over to
ccportal/devstack.py inside it.

Standard library only, and no syntax newer than Python 3.0, so that an old Python gets the
sentence below instead of a SyntaxError.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The Pythons the test suite runs on; pyproject.toml's requires-python says the same.
OLDEST = (3, 11)
NEWEST = (3, 13)
EXTRAS = ".[dev,embedded]"


def log(message):
    sys.stdout.write("[ccportal] " + message + "\n")
    sys.stdout.flush()


def dotted(version):
    return ".".join(str(part) for part in version)


def python_problem(version):
    """None when `version` is supported, else one sentence that says what to do."""
    if OLDEST <= tuple(version[:2]) <= NEWEST:
        return None
    supported = ", ".join("3." + str(minor) for minor in range(OLDEST[1], NEWEST[1] + 1))
    found = "older" if tuple(version[:2]) < OLDEST else "newer than ccportal is tested with"
    return (
        "ccportal runs on Python "
        + supported
        + "; this Python is "
        + dotted(version[:3])
        + " ("
        + found
        + "): install one of those and point the command at it, e.g. "
        + "`make run PYTHON=python"
        + dotted(NEWEST)
        + "`"
        + " or `python"
        + dotted(NEWEST)
        + " scripts/dev.py run`"
    )


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def this_python():
    return sys.version.split()[0] + "\n"


def read(path):
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return handle.read()


def ensure_venv(venv, chosen):
    """Make or refresh the environment; return its Python, or a problem to report.

    A Python named on purpose (`make ... PYTHON=python3.13`) gets an environment of its own
    Python, made anew if another one made it. Otherwise an existing environment is kept with
    whatever Python made it, so `make lint` after `make run PYTHON=python3.13` stays on 3.13.
    """
    python = venv_python(venv)
    stamp = os.path.join(venv, ".installed-stamp")
    made_by = read(stamp)  # the version of the Python that made the environment
    if os.path.exists(python) and made_by is not None and not chosen:
        wanted = made_by
    else:
        problem = python_problem(sys.version_info)
        if problem:
            return None, problem
        wanted = this_python()
        if os.path.exists(python) and made_by not in (None, wanted):
            log(
                venv
                + " was made with Python "
                + made_by.strip()
                + "; making it anew with "
                + wanted.strip()
            )
            subprocess.check_call([sys.executable, "-m", "venv", "--clear", venv])
        elif not os.path.exists(python):
            subprocess.check_call([sys.executable, "-m", "venv", venv])
    fresh = made_by == wanted and os.path.getmtime(stamp) >= os.path.getmtime(
        os.path.join(ROOT, "pyproject.toml")
    )
    if not fresh:
        log("installing ccportal and what it needs into " + venv + " (a minute or two, once)")
        pip = [python, "-m", "pip", "--disable-pip-version-check"]
        subprocess.check_call(pip + ["install", "--quiet", "--upgrade", "pip"])
        # setuptools warns on every editable install that folders named like the package may
        # shadow it; that is how this checkout is meant to be used, so keep the install quiet.
        quiet = dict(os.environ, PYTHONWARNINGS="ignore")
        subprocess.check_call(pip + ["install", "--quiet", "-e", EXTRAS], cwd=ROOT, env=quiet)
        with open(stamp, "w") as handle:
            handle.write(wanted)
    return python, None


def main(argv):
    venv = os.path.join(ROOT, ".venv")
    chosen = False
    while argv and argv[0] in ("--venv", "--python-chosen"):
        if argv[0] == "--python-chosen":
            chosen, argv = True, argv[1:]
        elif len(argv) >= 2:
            venv, argv = os.path.abspath(argv[1]), argv[2:]
        else:
            argv = []
    if not argv or argv[0] not in ("run", "test", "install"):
        sys.stderr.write(__doc__)
        return 2
    try:
        python, problem = ensure_venv(venv, chosen)
    except subprocess.CalledProcessError as error:
        log(
            "installing into "
            + venv
            + " failed (exit code "
            + str(error.returncode)
            + "; pip's message is above): check the network or the proxy, then run the "
            + "command again"
        )
        return 1
    if problem:
        log(problem)
        return 1
    command, rest = argv[0], argv[1:]
    if command == "install":
        return 0
    devstack = [python, "-m", "ccportal.devstack"]
    if command == "run":
        devstack += ["run"] + rest
    else:
        devstack += ["exec", "--", python, "-m", "pytest"] + rest
    # Become devstack rather than wait for it: Ctrl+C then reaches a process that stops the
    # servers in order, with no parent in between to kill it halfway.
    os.chdir(ROOT)
    os.execv(python, devstack)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

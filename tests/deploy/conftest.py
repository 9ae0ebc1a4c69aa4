"""The `deploy` marker: checks of the deployment files that need the pinned tools deploy/validate.sh
installs (select with -m deploy, leave out with -m "not deploy")."""


def pytest_configure(config):
    config.addinivalue_line("markers", "deploy: runs deploy/validate.sh (installs pinned tools on first use)")

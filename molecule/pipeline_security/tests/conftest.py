"""The scenario's hosts by role, as testinfra hosts reached through Molecule's inventory."""

import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

PREFIX = "pipeline_security-"
NAMES = ("server", "client-tcp", "client-relp", "selfsigned-tcp", "selfsigned-relp", "wrongname-tcp",
         "wrongname-relp", "outsider")


class Machine:
    """A scenario host: its testinfra handle and its address on the scenario's network."""

    def __init__(self, name, host):
        self.name = name
        self.host = host
        self.address = host.check_output("hostname -I").split()[0]

    def __repr__(self):
        return "%s(%s)" % (self.name, self.address)


@pytest.fixture(scope="session")
def machines(request):
    inventory = request.config.option.ansible_inventory
    return {name: Machine(name, testinfra.get_host("ansible://" + PREFIX + name, ansible_inventory=inventory))
            for name in NAMES}

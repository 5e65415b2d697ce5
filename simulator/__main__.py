"""`python -m simulator`: run the simulator with configuration from the environment."""

from simulator.app import run
from simulator.config import SimulatorConfig

if __name__ == "__main__":
    run(SimulatorConfig())

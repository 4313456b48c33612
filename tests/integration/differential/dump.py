"""Print the normalised transcripts of scenarios against one server.

    /usr/bin/python3 -m differential.dump [name-substring] [--server HOST:PORT]
        [--noext] [--cheetah]

Without --server it starts a ZooKeeper (or with --cheetah a Cheetah) on port
22209 with the test's config, runs the selected scenarios and stops it.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import servers  # noqa: E402
from differential import runner  # noqa: E402
from differential.scenarios import SCENARIOS, SUPER_DIGEST  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("only", nargs="?", default="")
    parser.add_argument("--server")
    parser.add_argument("--noext", action="store_true")
    parser.add_argument("--cheetah", action="store_true")
    args = parser.parse_args()
    kind = "noext" if args.noext else "main"
    config = {"tickTime": "500", "maxClientCnxns": "0",
              "DigestAuthenticationProvider.superDigest": SUPER_DIGEST}
    if kind == "main":
        config["extendedTypesEnabled"] = "true"
    selected = [(i + 1, name, body) for i, (name, body, server) in enumerate(SCENARIOS)
                if args.only in name and server == kind]

    def dump(address):
        for scenario_id, name, body in selected:
            print(f"=== {name} (/d{scenario_id:03d})")
            for line in runner.run_scenario(address, scenario_id, body):
                print("   ", line)

    if args.server:
        dump(args.server)
    else:
        start = servers.cheetah if args.cheetah else servers.zookeeper
        with start(22209, config) as server:
            dump(server.address)


if __name__ == "__main__":
    main()

"""A relay's load generator: simulated PDS hosts on 127.0.0.1 that emit valid signed sync 1.1
``#commit`` frames (and crafted bad ones), for the relay's tests and benchmarks and for
operators load-testing a relay. It is a tool beside the services, not part of one, so it may
stand up what a network needs, a PLC directory's store included.

- :mod:`.records`: the record mix (posts, likes, follows, reposts);
- :mod:`.chain`: one account's repository in memory and the ``#commit`` bodies its changes make;
- :mod:`.dataset`: accounts spread over hosts and every host's frames, generated once from a
  :class:`DatasetSpec` and cached on disk (:func:`load_dataset`);
- :mod:`.directory`: registering the accounts as did:plc identities naming their host;
- :mod:`.host`: :class:`SimulatedHost`, a websockets server streaming frames on
  ``subscribeRepos`` (cursor, rate) and answering the relay's repair calls; :class:`HostFleet`;
- :mod:`.bad`: crafted bad events, each with the drop reason a relay counts.

A typical run::

    dataset = load_dataset(DatasetSpec(hosts=100, accounts_per_host=100, events=100_000), cache)
    hosts = dataset.hosts()
    async with HostFleet(hosts) as fleet:
        endpoints = [hosts[a.host].url for a in dataset.accounts]
        await register_accounts(plc, dataset.accounts, endpoints, dataset.rotation_key)
        ...  # requestCrawl each host's hostname at the relay, wait for its connections
        await asyncio.gather(*fleet.play(rate=2000))
"""

from loadgen.bad import DROP_REASON, BadEvent
from loadgen.chain import AccountChain, Built
from loadgen.dataset import Dataset, DatasetSpec, SimAccount, load_dataset
from loadgen.directory import register_accounts, register_accounts_in_store
from loadgen.host import HostedAccount, HostFleet, SimulatedHost, raise_fd_limit

__all__ = [
    "DROP_REASON",
    "AccountChain",
    "BadEvent",
    "Built",
    "Dataset",
    "DatasetSpec",
    "HostFleet",
    "HostedAccount",
    "SimAccount",
    "SimulatedHost",
    "load_dataset",
    "raise_fd_limit",
    "register_accounts",
    "register_accounts_in_store",
]

"""The lexicon authority of an NSID: the DID its ``_lexicon`` TXT record names, over a real DNS
server on 127.0.0.1, cached like the other identity answers."""

from __future__ import annotations

import asyncio

import pytest
from strato.errors import IdentifierError, LexiconNotFoundError, LexiconResolutionError
from strato.identity import IdentityResolver
from strato.identity.methods import lexicon_authority_name

from .identity_helpers import LocalDns

TOY = "did:plc:" + "toy" * 8
OTHER = "did:plc:otherotherotherotherothe"


def authority(dns: LocalDns, nsid: str) -> str:
    async def run() -> str:
        async with IdentityResolver(nameservers=[dns.address], timeout=3.0) as resolver:
            return await resolver.resolve_lexicon_authority(nsid)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("nsid", "name"),
    [
        ("app.toy.record", "_lexicon.toy.app"),
        ("app.bsky.feed.post", "_lexicon.feed.bsky.app"),
        ("com.Example.fooBar", "_lexicon.example.com"),  # authority case folds, the name goes
        ("one.2.three.nameHere", "_lexicon.three.2.one"),
    ],
)
def test_authority_name(nsid: str, name: str) -> None:
    assert lexicon_authority_name(nsid) == name


def test_authority_name_needs_an_nsid() -> None:
    with pytest.raises(IdentifierError):
        lexicon_authority_name("not-an-nsid")


def test_authority_found(local_dns: LocalDns) -> None:
    local_dns.txt("_lexicon.toy.app", "v=unrelated", f"did={TOY}", f"did={TOY}")
    assert authority(local_dns, "app.toy.record") == TOY
    # No walking up the tree: a record one level up does not count.
    local_dns.txt("_lexicon.app", f"did={OTHER}")
    with pytest.raises(LexiconNotFoundError, match="no did= TXT record"):
        authority(local_dns, "app.other.record")


def test_authority_failures(local_dns: LocalDns) -> None:
    local_dns.txt("_lexicon.two.app", f"did={TOY}", f"did={OTHER}")
    with pytest.raises(LexiconResolutionError, match="different DIDs") as info:
        authority(local_dns, "app.two.record")
    assert info.value.subject == "app.two.record"
    local_dns.txt("_lexicon.bad.app", "did=not a did")
    with pytest.raises(LexiconResolutionError, match="invalid DID in TXT record"):
        authority(local_dns, "app.bad.record")


def test_answers_and_failures_are_cached(local_dns: LocalDns) -> None:
    local_dns.txt("_lexicon.toy.app", f"did={TOY}")

    async def run() -> list[str]:
        async with IdentityResolver(nameservers=[local_dns.address], timeout=3.0) as resolver:
            found = [await resolver.resolve_lexicon_authority("app.toy.record") for _ in range(3)]
            # Every NSID under one authority shares its answer.
            found.append(await resolver.resolve_lexicon_authority("app.toy.other"))
            for _ in range(2):
                with pytest.raises(LexiconNotFoundError):
                    await resolver.resolve_lexicon_authority("app.missing.record")
            return found

    assert asyncio.run(run()) == [TOY] * 4
    assert local_dns.queries[("_lexicon.toy.app", "TXT")] == 1
    assert local_dns.queries[("_lexicon.missing.app", "TXT")] == 1

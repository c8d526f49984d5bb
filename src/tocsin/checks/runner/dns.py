"""DNS resolution: the name resolves (optionally at a given server) and the answer contains
what is expected."""

from __future__ import annotations

import time
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver

from tocsin.checks.runner.outcome import Outcome


async def run(spec: dict[str, Any], *, limit_seconds: float) -> Outcome:
    name, rdtype = str(spec["name"]), str(spec.get("record_type") or "A")
    nameserver = spec.get("nameserver")
    resolver = dns.asyncresolver.Resolver(configure=nameserver is None)
    if nameserver:
        resolver.nameservers = [str(nameserver)]
        resolver.port = int(spec.get("port") or 53)
    started = time.perf_counter()
    try:
        answer = await resolver.resolve(name, rdtype, lifetime=limit_seconds)
    except dns.resolver.NXDOMAIN:
        return Outcome(False, _ms(started), error=f"{name} does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return Outcome(False, _ms(started), error=f"{name} has no {rdtype} record")
    except dns.exception.Timeout:
        return Outcome(False, _ms(started), error=f"resolving {name} timed out")
    except dns.exception.DNSException as exc:
        return Outcome(False, _ms(started), error=f"resolving {name} failed: {exc}")
    elapsed = _ms(started)
    found = sorted(rdata.to_text().strip('"') for rdata in answer)
    for wanted in spec.get("expect") or []:
        if wanted not in found:
            return Outcome(
                False, elapsed, error=f"{name} {rdtype} is {', '.join(found)}; expected {wanted}"
            )
    return Outcome(True, elapsed, detail=", ".join(found))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000

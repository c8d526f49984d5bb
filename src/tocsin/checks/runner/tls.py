"""TLS certificate expiry: the days left before the served certificate expires.

The chain is deliberately not validated here: this kind answers "when must we renew", which
matters just as much for internal endpoints with private CAs. HTTPS checks validate trust.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import datetime
from typing import Any

from cryptography import x509

from tocsin.checks.runner.outcome import Outcome


async def run(spec: dict[str, Any], *, limit_seconds: float, now: datetime) -> Outcome:
    host, port = str(spec["host"]), int(spec.get("port") or 443)
    threshold = int(spec.get("min_days_left") or 14)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    started = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=context, server_hostname=spec.get("server_name") or host
            ),
            limit_seconds,
        )
    except TimeoutError:
        return Outcome(False, _ms(started), error=f"TLS handshake with {host}:{port} timed out")
    except (OSError, ssl.SSLError) as exc:
        return Outcome(False, _ms(started), error=f"TLS handshake with {host}:{port} failed: {exc}")
    elapsed = _ms(started)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    finally:
        writer.close()
    if not der:
        return Outcome(False, elapsed, error=f"{host}:{port} presented no certificate")
    expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    days_left = (expires - now).total_seconds() / 86400
    detail = f"certificate expires {expires:%Y-%m-%d %H:%M} UTC ({days_left:.1f} days left)"
    if days_left < threshold:
        return Outcome(
            False,
            elapsed,
            error=f"certificate expires in {days_left:.1f} days, fewer than {threshold}",
            detail=detail,
        )
    return Outcome(True, elapsed, detail=detail)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000

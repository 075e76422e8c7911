"""An appliance that claims an absurd token lifetime (0, negative, not a number, NaN, infinite) does not make the
client mint a token every second (the appliance keeps 30 per API account and evicts the oldest, which another process
may be using): the client assumes an hour, and a token the appliance rejects early is re-minted on its 401 anyway.

Real parts: HTTPS simulator (fault switch ``token_expires_in``)."""
from __future__ import annotations

import pytest

from ic.appliance import ApplianceClient


@pytest.mark.parametrize("claimed", [0, -5, "soon", float("nan"), float("inf"), 1e308])
def test_absurd_token_lifetime_is_not_a_token_a_second(simulator, claimed):
    simulator.faults.token_expires_in = claimed
    now = [1000.0]
    client = ApplianceClient(simulator.host, simulator.client_id, simulator.client_secret,
                             ca_bundle=simulator.ca_file, base_delay=0.01, max_delay=0.05, timeout=10)
    client._tokens._clock = lambda: now[0]  # the token cache's clock: a faked hour of calls
    for _ in range(5):  # a call a second
        client.list_sessions(end_time=0)
        now[0] += 1
    assert simulator.stats["tokens_minted"] == 1
    now[0] += 2 * 86400  # a scheduler up for days still replaces its token (at most a day's lifetime is believed)
    client.list_sessions(end_time=0)
    assert simulator.stats["tokens_minted"] == 2

"""The idle health check keeps the state true and reconnects by itself."""

import asyncio
import socket

import pytest

from kobold_gui.core import errors as E
from kobold_gui.core.events import ConnectionState, Retrying, ServerChanged, StateChanged
from kobold_gui.core.monitor import ConnectionMonitor
from kobold_gui.core.protocol import KoboldClient
from kobold_gui.core.retry import RetryPolicy

pytestmark = pytest.mark.asyncio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_offline_backs_off_then_reconnects_when_the_server_comes_up(make_emulator):
    port = free_port()
    client = KoboldClient(f"http://127.0.0.1:{port}")
    events = []
    policy = RetryPolicy(base_delay=0.1, max_delay=0.4, min_delay=0.05, max_attempts=10**9)
    monitor = ConnectionMonitor(client, events.append, interval=0.2, policy=policy)
    monitor.start()
    try:
        await until(lambda: sum(isinstance(e, Retrying) for e in events) >= 3)
        assert monitor.state == ConnectionState.OFFLINE
        assert isinstance(monitor.last_error, E.ConnectionFailed)
        attempts = [e.attempt for e in events if isinstance(e, Retrying)]
        assert attempts[:3] == [1, 2, 3]
        assert all(e.delay <= 0.4 for e in events if isinstance(e, Retrying))
        emu = make_emulator(port=port, model="koboldcpp/back-again")
        await until(lambda: monitor.state == ConnectionState.CONNECTED)
        infos = [e.info for e in events if isinstance(e, ServerChanged) and e.info]
        assert infos[-1].model == "koboldcpp/back-again"
        # The server goes away while idle: the monitor notices on its own.
        emu.stop()
        await until(lambda: monitor.state == ConnectionState.OFFLINE)
        assert monitor.server is None
    finally:
        await monitor.aclose()
        await client.aclose()


async def test_reconnect_now_skips_a_long_wait(make_emulator):
    port = free_port()
    client = KoboldClient(f"http://127.0.0.1:{port}")
    events = []
    slow = RetryPolicy(base_delay=60, max_delay=60, min_delay=60, max_attempts=10**9)
    monitor = ConnectionMonitor(client, events.append, interval=0.2, policy=slow)
    monitor.start()
    try:
        await until(lambda: any(isinstance(e, Retrying) for e in events))
        make_emulator(port=port)
        monitor.reconnect_now()
        await until(lambda: monitor.state == ConnectionState.CONNECTED, timeout=5.0)
    finally:
        await monitor.aclose()
        await client.aclose()


async def test_wrong_password_waits_for_the_user_instead_of_retrying(make_emulator):
    emu = make_emulator(password="right")
    client = KoboldClient(emu.url, "wrong")
    events = []
    monitor = ConnectionMonitor(client, events.append, interval=0.1,
                                policy=RetryPolicy(base_delay=0.05, max_attempts=10**9))
    monitor.start()
    try:
        await until(lambda: monitor.state == ConnectionState.OFFLINE)
        await asyncio.sleep(0.5)
        assert not any(isinstance(e, Retrying) for e in events)
        assert isinstance(monitor.last_error, E.AuthenticationFailed)
        offline = [e for e in events if isinstance(e, StateChanged)
                   and e.state == ConnectionState.OFFLINE]
        assert "password" in offline[-1].detail
    finally:
        await monitor.aclose()
        await client.aclose()


async def test_not_koboldcpp_is_incompatible_and_stops_reconnecting(tmp_path):
    from foreign_servers import static_file_server

    with static_file_server(tmp_path) as (url, seen):
        client = KoboldClient(url)
        events = []
        monitor = ConnectionMonitor(client, events.append, interval=0.1,
                                    policy=RetryPolicy(base_delay=0.05, max_attempts=10**9))
        monitor.start()
        try:
            await until(lambda: monitor.state == ConnectionState.INCOMPATIBLE)
            assert isinstance(monitor.last_error, E.NotKoboldServer)
            incompatible = [e for e in events if isinstance(e, StateChanged)
                            and e.state == ConnectionState.INCOMPATIBLE]
            assert "not a KoboldCPP server" in incompatible[-1].detail
            asked = len(seen)
            # Give an automatic loop many chances to ask again: it must not.
            await asyncio.sleep(0.5)
            assert len(seen) == asked
            assert not any(isinstance(e, Retrying) for e in events)
            monitor.reconnect_now()  # the user asks: checked once more
            await until(lambda: len(seen) > asked)
            await until(lambda: monitor.state == ConnectionState.INCOMPATIBLE)
        finally:
            await monitor.aclose()
            await client.aclose()

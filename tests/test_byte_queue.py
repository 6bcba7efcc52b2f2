"""ByteQueue: the port's queues are bounded in bytes (uart_buffer), in order."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bridge.byte_queue import ByteQueue


async def test_put_waits_once_the_limit_is_reached_and_order_is_kept() -> None:
    queue = ByteQueue[bytes](limit=10)
    await queue.put(b"a" * 6, 6)
    await queue.put(b"b" * 6, 6)  # 6 < 10: admitted, now 12 held
    put_done = trio.Event()

    async def third() -> None:
        await queue.put(b"c", 1)
        put_done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(third)
        await trio.testing.wait_all_tasks_blocked()
        assert not put_done.is_set() and queue.size == 12
        assert await queue.get() == b"a" * 6  # 6 held: room again
        await trio.testing.wait_all_tasks_blocked()
        assert put_done.is_set()
    assert [await queue.get(), await queue.get()] == [b"b" * 6, b"c"]
    assert queue.size == 0 and len(queue) == 0


async def test_zero_sized_items_never_wait() -> None:
    """Link notices carry no bytes and must pass a full queue."""
    queue = ByteQueue[object](limit=4)
    await queue.put(b"full", 4)
    with trio.fail_after(1):
        await queue.put("notice", 0)
    assert queue.get_nowait() == b"full" and queue.get_nowait() == "notice"
    with pytest.raises(trio.WouldBlock):
        queue.get_nowait()


async def test_get_waits_for_an_item_and_is_a_checkpoint() -> None:
    queue = ByteQueue[bytes](limit=4)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(queue.put, b"x", 1)
        with trio.fail_after(1):
            assert await queue.get() == b"x"
    await queue.put(b"y", 1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await queue.get()  # cancelled at its checkpoint, the item stays
    assert scope.cancelled_caught and queue.get_nowait() == b"y"

"""The SQLite epoch board (``magec.store.epochs.EpochBoard``): what ``magec serve --workers N``
relies on for read-your-writes across processes. Real processes, a real file, no server."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from magec.config import Config
from magec.server import open_context
from magec.store.epochs import EpochBoard


def _publisher(path: str, start: int, step: int, count: int) -> None:
    board = EpochBoard(path)
    for i in range(count):
        board.publish(start + i * step)
    board.close()


def test_board_is_per_sqlite_file_only(tmp_path: Path) -> None:
    board = EpochBoard.for_database(f"sqlite+aiosqlite:///{tmp_path}/magec.db")
    assert board is not None and board.path == tmp_path / "magec.db-epoch"
    assert (board.path.stat().st_mode & 0o777) == 0o600
    board.close()
    assert EpochBoard.for_database("sqlite+aiosqlite:///:memory:") is None
    assert EpochBoard.for_database("postgresql+asyncpg://u@h/db") is None


def test_publish_only_raises_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "b-epoch")
    board = EpochBoard(path)
    assert board.read() == 0
    ctx = multiprocessing.get_context("spawn")
    # two writers interleaving old and new epochs: the counter ends at the highest, never lower
    procs = [ctx.Process(target=_publisher, args=(path, 1, 2, 2000)), ctx.Process(target=_publisher, args=(path, 2, 2, 2000))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert board.read() == 4000
    board.publish(10)
    assert board.read() == 4000
    board.close()


async def test_a_commit_is_on_the_board_before_the_write_returns(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", encryption_key="k")
    async with open_context(config, start_runtime=False) as ctx:
        board = EpochBoard(tmp_path / "data" / "magec.db-epoch")
        before = board.read()
        await ctx.store.create("secrets", {"name": "s", "key": "K", "value": "v"})
        assert board.read() == before + 1 == ctx.store.epoch
        # what another process's request sees: the store's shared epoch reads the board
        board.publish(ctx.store.epoch + 5)  # (as if another worker had committed 5 more)
        assert await ctx.store.shared_epoch() == ctx.store.epoch + 5
        board.close()


async def test_a_board_left_by_a_replaced_database_is_reset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    stale = EpochBoard(data / "magec.db-epoch")
    stale.publish(57)  # no database yet: epochs will restart at 0
    async with open_context(Config(data_dir=data, encryption_key="k"), start_runtime=False) as ctx:
        assert stale.read() == ctx.store.epoch == 0
        assert await ctx.store.shared_epoch() == 0
    stale.close()

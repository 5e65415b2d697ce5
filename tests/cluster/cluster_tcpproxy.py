"""A TCP proxy the chaos tests put between a gateway and PostgreSQL, cut and restored by signal.

`python cluster_tcpproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT`. SIGUSR1 cuts: the listener
closes and every open connection is reset, as when the database restarts. SIGHUP stalls: bytes
stop flowing and new connections are accepted but never answered, as when the network drops
packets. SIGUSR2 restores (resetting stalled connections, as the restarted server would).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys


class Proxy:
    def __init__(self, listen_port: int, target_host: str, target_port: int) -> None:
        self.listen_port = listen_port
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def restore(self) -> None:
        if not self.flowing.is_set():
            self.reset_all()
            self.flowing.set()
        await self.listen()

    def stall(self) -> None:
        self.flowing.clear()
        print("proxy stalled", flush=True)  # noqa: T201

    def reset_all(self) -> None:
        for writer in list(self.writers):
            transport = writer.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        self.writers.clear()

    async def listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self.handle, "127.0.0.1", self.listen_port, reuse_address=True
            )
            print(f"proxy listening on {self.listen_port}", flush=True)  # noqa: T201

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self.server is not None:
            self.server.close()
            self.server = None
        self.reset_all()
        print("proxy cut", flush=True)  # noqa: T201

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        await self.flowing.wait()
        if writer.is_closing():
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers.update({writer, upstream_writer})
        try:
            await asyncio.gather(
                self.pipe(reader, upstream_writer), self.pipe(upstream_reader, writer)
            )
        finally:
            self.writers.discard(writer)
            self.writers.discard(upstream_writer)

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                await self.flowing.wait()
                if writer.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()


async def main(listen_port: int, target_host: str, target_port: int) -> None:
    proxy = Proxy(listen_port, target_host, target_port)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, proxy.cut)
    loop.add_signal_handler(signal.SIGHUP, proxy.stall)
    loop.add_signal_handler(signal.SIGUSR2, lambda: loop.create_task(proxy.restore()))
    await proxy.listen()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))

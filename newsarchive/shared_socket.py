"""`python -m newsarchive.shared_socket FDS READY_FD ARGS...`: `datasette serve ARGS`
on listening sockets the serve command holds (FDS, comma-separated), writing to
READY_FD once it accepts connections (newsarchive.supervise), exiting when the serve
command, pid $NEWS_ARCHIVE_SERVE_PID, does.

Everything is `datasette serve` of the installed version but two uvicorn steps, hooked
where both Datasette 0.65 (`uvicorn.run`) and 1.0 (`uvicorn.Server`) go through them:

- startup takes the inherited sockets instead of binding the host and port;
- shutdown first stops accepting, then for GRACE s answers what still comes with
  `Connection: close`, and only then closes the connections that sent nothing: a
  connection accepted just before SIGTERM, or a keep-alive client sending its next
  request, would otherwise be closed unanswered; so they get their answer, and a
  keep-alive client is told to reconnect (to the new server) rather than cut off.
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys

from newsarchive.supervise import DRAIN

GRACE = 1.0
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have Linux send SIGTERM when the serve command (pid `parent`) dies, even by
    SIGKILL: a server left behind would hold the port and keep serving an old build."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # the serve command died before prctl
        sys.exit(1)


def hook_uvicorn(shared: list[socket.socket], ready_fd: int) -> None:
    from uvicorn.server import Server

    startup, shutdown = Server.startup, Server.shutdown

    async def startup_on_shared_sockets(self, sockets=None):
        await startup(self, sockets=shared)
        if self.started:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)

    async def shutdown_after_grace(self, sockets=None):
        for server in getattr(self, "servers", ()):
            server.close()
        self.server_state.default_headers.append((b"connection", b"close"))
        # Requests still running DRAIN s later are cancelled: a stream to a client that
        # stopped reading, or SQL past its time limit, would otherwise hold the exit
        # forever once no serve command is left to kill this process.
        self.config.timeout_graceful_shutdown = DRAIN
        await asyncio.sleep(GRACE)
        await shutdown(self, sockets=sockets)

    Server.startup = startup_on_shared_sockets
    Server.shutdown = shutdown_after_grace


def main(argv: list[str]) -> None:
    fds, ready_fd, *args = argv
    die_with_parent(int(os.environ["NEWS_ARCHIVE_SERVE_PID"]))
    hook_uvicorn([socket.socket(fileno=int(fd)) for fd in fds.split(",")], int(ready_fd))
    from datasette.cli import cli

    cli.main(["serve", *args], prog_name="datasette")


if __name__ == "__main__":
    main(sys.argv[1:])

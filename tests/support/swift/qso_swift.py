"""Helpers for the test suite's private OpenStack Swift (tests/support/swift/).

start.sh runs this file with Debian's /usr/bin/python3 (never a pyenv shim:
the swift modules live in Debian's dist-packages). It owns four small jobs
that are awkward in shell:

  ports N                 print N free TCP ports on 127.0.0.1, one a line
  render TEMPLATE OUT     copy TEMPLATE to OUT (mode 0600), replacing every
                          @NAME@ with the environment variable QSO_TPL_NAME;
                          an unknown placeholder is an error, so a template
                          and start.sh cannot drift apart silently
  rings ETC KIND:PORT...  build a one-device, one-replica ring per KIND
                          (object, container, account) in ETC with
                          swift-ring-builder's own code (swift.cli.ringbuilder)
                          in this one process: nine separate
                          swift-ring-builder runs cost seconds of start-up
  listening PID:PORT...   exit 0 when each PID itself holds the socket
                          listening on 127.0.0.1:PORT: a healthcheck that
                          answers may come from another cluster's server that
                          took a port first (Swift retries a failed bind for
                          bind_timeout seconds instead of exiting)
  server KIND CONF SWIFT_CONF
                          run one Swift server (proxy, object, container,
                          account) from CONF, reading the cluster-wide
                          swift.conf from SWIFT_CONF instead of
                          /etc/swift/swift.conf
  exec PROG ARG...        start a new session (so the process is the leader
                          of its own process group, which stop.sh signals
                          as a whole) and exec PROG: the pid start.sh
                          records is the pid of PROG itself

Why a wrapper around run_wsgi instead of /usr/bin/swift-*-server: Swift
reads the hash prefix, storage policies and constraints from the hard-coded
/etc/swift/swift.conf, whatever `swift_dir` says. A test cluster must not
depend on (or edit) machine-wide files, so the wrapper points
swift.common.utils.SWIFT_CONF_FILE at the state directory and reloads the
modules that read it at import time, before anything else imports them.

Why the log redirection: Swift logs to syslog (/dev/log, or UDP to
localhost:514 when that socket is missing, as on our machines) and closes
stdio once a server is ready; the proxy's access logger even ignores
`log_custom_handlers`. So `server` replaces the syslog handler class that
swift.common.utils.get_logger instantiates with one that appends each record
to the log file given by the environment variable QSO_SWIFT_LOG_FILE. The
proxy's access log (one line per request: what the benchmarks count) then
lands in the state directory with everything else.
"""

import logging
import os
import re
import socket
import sys
import time

class _FileLogHandler(logging.Handler):
    """Stands in for Swift's syslog handler: one line per record, appended.

    Every logger of the process (and the forked proxy workers) shares one
    O_APPEND descriptor, so each record is a single write() and lines from
    different processes never interleave within a line.
    """
    fd = -1

    def __init__(self, *args, **kwargs):
        logging.Handler.__init__(self)

    def emit(self, record):
        try:
            line = '%s %s\n' % (
                time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(record.created)),
                self.format(record))
            os.write(_FileLogHandler.fd, line.encode('utf-8', 'replace'))
        except Exception:
            self.handleError(record)


def _ports(count):
    # Hold every socket open until all are bound so the N ports differ; the
    # kernel may hand a port out again once closed, so start.sh retries the
    # whole start when a server then fails to bind.
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        for s in socks:
            print(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return 0


def _render(template, out):
    with open(template, encoding='utf-8') as f:
        text = f.read()
    missing = []

    def repl(m):
        key = 'QSO_TPL_' + m.group(1)
        if key not in os.environ:
            missing.append(m.group(1))
            return m.group(0)
        return os.environ[key]

    text = re.sub(r'@([A-Z0-9_]+)@', repl, text)
    if missing:
        sys.stderr.write('%s: no value for %s\n' %
                         (template, ', '.join(sorted(set(missing)))))
        return 1
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(text)
    return 0


def _rings(etc, specs):
    import contextlib
    import io
    from swift.cli import ringbuilder
    for spec in specs:
        kind, port = spec.split(':')
        builder = os.path.join(etc, kind + '.builder')
        # 2^4 partitions keep rebalancing instant; min_part_hours 0 because
        # nothing ever moves in a one-device ring.
        for args in (['create', '4', '1', '0'],
                     ['add', '--region', '1', '--zone', '1', '--ip',
                      '127.0.0.1', '--port', port, '--device', 'd1',
                      '--weight', '100'],
                     ['rebalance']):
            out = io.StringIO()
            code = 0
            try:
                with contextlib.redirect_stdout(out):
                    ringbuilder.main(['swift-ring-builder', builder] + args)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 2
            # Exit code 1 is a warning (e.g. about balance), 2 an error.
            if code not in (0, 1):
                sys.stderr.write('swift-ring-builder %s %s failed (%s):\n%s' %
                                 (builder, ' '.join(args), code,
                                  out.getvalue()))
                return 1
    return 0


def _listening_inodes(port):
    inodes = set()
    want = '0100007F:%04X' % port
    with open('/proc/net/tcp') as f:
        next(f)
        for line in f:
            fields = line.split()
            # local_address, state 0A = LISTEN, inode
            if fields[1] == want and fields[3] == '0A':
                inodes.add(fields[9])
    return inodes


def _listening(specs):
    for spec in specs:
        pid, port = spec.split(':')
        inodes = _listening_inodes(int(port))
        if not inodes:
            return 1
        held = set()
        try:
            for fd in os.listdir('/proc/%s/fd' % pid):
                try:
                    link = os.readlink('/proc/%s/fd/%s' % (pid, fd))
                except OSError:
                    continue
                if link.startswith('socket:['):
                    held.add(link[8:-1])
        except OSError:
            return 1
        if not inodes & held:
            return 1
    return 0


def _server(kind, conf_path, swift_conf):
    # Our own group at once: a proxy with workers sends SIGTERM to its whole
    # process group when it stops (os.killpg(0, ...)), which must never
    # reach the test that started it.
    try:
        os.setsid()
    except OSError:
        pass
    # Must run before swift.common.constraints / storage_policy are imported
    # by anything else: they copy values out of swift.conf at import.
    # eventlet's green DNS resolver pulls in dnspython and half of requests
    # (~0.3 s of CPU per server at start-up); every address here is a
    # literal 127.0.0.1, which the plain resolver handles without blocking.
    os.environ.setdefault('EVENTLET_NO_GREENDNS', 'yes')
    from swift.common import utils
    log_file = os.environ.get('QSO_SWIFT_LOG_FILE')
    if log_file:
        _FileLogHandler.fd = os.open(
            log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        utils.ThreadSafeSysLogHandler = _FileLogHandler
    utils.SWIFT_CONF_FILE = swift_conf
    utils.HASH_PATH_PREFIX = b''
    utils.HASH_PATH_SUFFIX = b''
    utils.validate_configuration()
    from swift.common import constraints, storage_policy
    constraints.reload_constraints()
    storage_policy.reload_storage_policies()

    from swift.common.wsgi import run_wsgi
    kwargs = {}
    if kind == 'object':
        from swift.obj import server as obj_server
        kwargs['global_conf_callback'] = obj_server.global_conf_callback
    return run_wsgi(conf_path, '%s-server' % kind, **kwargs)


def main(argv):
    if len(argv) == 3 and argv[1] == 'ports':
        return _ports(int(argv[2]))
    if len(argv) >= 3 and argv[1] == 'exec':
        try:
            os.setsid()
        except OSError:
            pass  # already a group leader (a shell with job control)
        os.execv(argv[2], argv[2:])
    if len(argv) >= 4 and argv[1] == 'rings':
        return _rings(argv[2], argv[3:])
    if len(argv) >= 3 and argv[1] == 'listening':
        return _listening(argv[2:])
    if len(argv) == 4 and argv[1] == 'render':
        return _render(argv[2], argv[3])
    if len(argv) == 5 and argv[1] == 'server' and \
            argv[2] in ('proxy', 'object', 'container', 'account'):
        return _server(argv[2], argv[3], argv[4])
    sys.stderr.write('usage: qso_swift.py ports N | render TEMPLATE OUT | '
                     'rings ETC KIND:PORT... | listening PID:PORT... | '
                     'server proxy|object|container|account CONF SWIFT_CONF | '
                     'exec PROG ARG...\n')
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))

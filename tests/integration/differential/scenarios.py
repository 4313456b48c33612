"""Differential scenarios: small functions of a runner.Run.

Each scenario works under its own prefix (run.p() = /dNNN) with its own
sessions; the runner closes the sessions it leaves open. Register with
@scenario (or scenario(name)(body) for generated families). `server` selects
the server pair: "main" (extendedTypesEnabled=true, superDigest) or "noext"
(extendedTypesEnabled off).
"""

import base64
import hashlib
import time

from . import runner  # noqa: F401  (sys.path for jute_client)
import jute_client as jc

SCENARIOS = []  # (name, body, server)

SUPER_PASSWORD = b"super:secret"
SUPER_DIGEST = "super:" + base64.b64encode(hashlib.sha1(SUPER_PASSWORD).digest()).decode()
EXPIRY_TIMEOUT_MS = 1000  # = 2 * tickTime (500): the smallest the servers allow


def digest_id(user, password):
    raw = f"{user}:{password}".encode()
    return f"{user}:" + base64.b64encode(hashlib.sha1(raw).digest()).decode()


def scenario(name=None, server="main"):
    def register(body):
        SCENARIOS.append((name or body.__name__, body, server))
        return body
    return register


def base(run, **connect_args):
    """Session a with the scenario's prefix node created."""
    a = run.session(**connect_args)
    a.create(run.p(), b"root")
    return a


# ================================================================ create modes
MODES = {"persistent": 0, "ephemeral": 1, "pseq": 2, "eseq": 3, "container": 4,
         "ttl": 5, "seqttl": 6}
CREATE_OPS = {"create": jc.OP_CREATE, "create2": jc.OP_CREATE2,
              "createContainer": jc.OP_CREATE_CONTAINER, "createTTL": jc.OP_CREATE_TTL}


def _create_mode_scenario(op_name, mode_name):
    def body(run):
        a = base(run)
        flags = MODES[mode_name]
        path = run.p("n")
        opcode = CREATE_OPS[op_name]
        if opcode == jc.OP_CREATE_TTL:
            a.req(opcode, jc.encode_create_ttl(path, b"v", jc.OPEN_ACL, flags, 30000))
        else:
            a.req(opcode, jc.encode_create(path, b"v", jc.OPEN_ACL, flags))
        a.get_children2(run.p())
        for child in ("n", "n0000000000", "n0000000001"):
            a.exists(run.p(child))
        a.get_data(run.p("n0000000000" if flags in (2, 3, 6) else "n"))
        a.get_ephemerals(run.p())
        a.close()
        b = run.session()
        b.get_children2(run.p())
    return body


for _op in CREATE_OPS:
    for _mode in MODES:
        scenario(f"mode_{_op}_{_mode}")(_create_mode_scenario(_op, _mode))


def _noext_create(op_name, mode_name):
    def body(run):
        a = base(run)
        flags = MODES[mode_name]
        opcode = CREATE_OPS[op_name]
        if opcode == jc.OP_CREATE_TTL:
            a.req(opcode, jc.encode_create_ttl(run.p("n"), b"v", jc.OPEN_ACL, flags, 30000))
        else:
            a.req(opcode, jc.encode_create(run.p("n"), b"v", jc.OPEN_ACL, flags))
        a.get_children2(run.p())
        a.multi([jc.op_create_ttl(run.p("m"), b"", jc.OPEN_ACL, jc.PERSISTENT_WITH_TTL, 5000)])
        a.exists(run.p("m"))
    return body


for _op, _mode in (("createTTL", "ttl"), ("createTTL", "seqttl"), ("create", "ttl"),
                   ("create2", "seqttl"), ("createContainer", "container"),
                   ("create2", "persistent")):
    scenario(f"noext_{_op}_{_mode}", server="noext")(_noext_create(_op, _mode))


@scenario()
def ttl_values(run):
    a = base(run)
    for i, ttl in enumerate((0, 1, -1, 1 << 40, (1 << 40) - 1, 86400000)):
        a.create_ttl(run.p(f"t{i}"), b"", ttl=ttl)
    a.get_children(run.p())


@scenario()
def ttl_sequential_children(run):
    a = base(run)
    a.create_ttl(run.p("t"), b"x", flags=jc.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=5000)
    a.create_ttl(run.p("t"), b"y", flags=jc.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=7000)
    a.create_ttl(run.p("t0000000000/c"), b"", ttl=100)
    a.get_children2(run.p())
    a.get_data(run.p("t0000000001"))


@scenario()
def container_children(run):
    a = base(run)
    a.create_container(run.p("c"))
    a.create(run.p("c/x"), b"1")
    a.create(run.p("c/y"), b"2", flags=jc.EPHEMERAL)
    a.get_children2(run.p("c"))
    a.delete(run.p("c/x"))
    a.exists(run.p("c"))
    a.set_data(run.p("c"), b"data")
    a.get_data(run.p("c"))


@scenario()
def create_modes_in_multi(run):
    a = base(run)
    a.multi([jc.op_create(run.p("p"), b"1", flags=0),
             jc.op_create(run.p("e"), b"2", flags=1),
             jc.op_create(run.p("ps"), b"3", flags=2),
             jc.op_create(run.p("es"), b"4", flags=3),
             jc.op_create(run.p("c"), b"5", flags=4, opcode=jc.OP_CREATE_CONTAINER),
             jc.op_create_ttl(run.p("t"), b"6", ttl=10000),
             jc.op_create(run.p("p2"), b"7", opcode=jc.OP_CREATE2)])
    a.get_children2(run.p())
    a.get_ephemerals(run.p())


# ================================================================ bad paths
BAD_PATHS = [
    ("empty", ""), ("relative", "a"), ("trailing_slash", "{p}/"), ("double_slash", "{p}//x"),
    ("dot", "{p}/."), ("dotdot", "{p}/.."), ("dot_mid", "{p}/./x"), ("dotdot_mid", "{p}/../x"),
    ("nul", "{p}/a\x00b"), ("ctrl", "{p}/a\x01"), ("del", "{p}/a\x7f"),
    ("c1", "{p}/a\u0085"), ("private_use", "{p}/\ue000"), ("fff0", "{p}/\ufff5"),
    ("bad_utf8", b"{p}/\xff\xfe"), ("only_slashes", "//"),
    ("dot_ok", "{p}/.x"), ("dots_ok", "{p}/x..y"), ("unicode_ok", "{p}/\u00e9\u4e2d"),
    ("space_ok", "{p}/a b"),
]


def _fmt_path(template, prefix):
    if isinstance(template, bytes):
        return template.replace(b"{p}", prefix.encode())
    return template.replace("{p}", prefix)


def _bad_path_scenario(shape):
    def body(run):
        a = base(run)
        path = _fmt_path(shape, run.p())
        a.create(path, b"x")
        a.create(path, b"x", flags=jc.PERSISTENT_SEQUENTIAL)
        a.exists(path)
        a.get_data(path)
        a.set_data(path, b"y")
        a.get_children(path)
        a.get_acl(path)
        a.set_acl(path, jc.OPEN_ACL)
        a.delete(path)
        a.sync(path)
        a.multi([jc.op_create(path), jc.op_check(run.p(), 0)])
        a.get_children(run.p())
    return body


for _name, _shape in BAD_PATHS:
    scenario(f"path_{_name}")(_bad_path_scenario(_shape))


@scenario()
def path_root_and_system(run):
    a = base(run)
    a.delete("/")
    a.delete("/zookeeper")
    a.create("/", b"")
    a.create("/zookeeper", b"")
    a.set_data("/zookeeper", b"x", 7)  # BADVERSION: past the path checks, no change
    a.get_children("/zookeeper")
    a.get_data("/zookeeper/config")
    a.get_acl("/zookeeper/config")
    a.get_children("/zookeeper/quota")
    a.exists("/zookeeper")


@scenario()
def path_long_names(run):
    a = base(run)
    a.create(run.p("x" * 1000), b"")
    a.create(run.p("y" * 20000), b"")
    a.get_children(run.p())


# ================================================================ errors
@scenario()
def err_nonode_every_op(run):
    a = base(run)
    missing = run.p("missing")
    a.create(run.p("missing/child"), b"")
    a.delete(missing)
    a.exists(missing)
    a.get_data(missing)
    a.set_data(missing, b"")
    a.get_acl(missing)
    a.set_acl(missing, jc.OPEN_ACL)
    a.get_children(missing)
    a.get_children2(missing)
    a.check(missing, 0)
    a.sync(missing)
    a.get_all_children_number(missing)
    a.get_ephemerals(missing)
    a.add_watch(missing, 0)


@scenario()
def err_nodeexists(run):
    a = base(run)
    a.create(run.p("x"), b"1")
    a.create(run.p("x"), b"2")
    a.create2(run.p("x"), b"3", flags=jc.EPHEMERAL)
    a.create_container(run.p("x"))
    a.create_ttl(run.p("x"))
    a.get_data(run.p("x"))


@scenario()
def err_badversion(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"1")
    a.set_data(x, b"2", 5)
    a.set_data(x, b"3", 0)
    a.set_data(x, b"4", 0)
    a.set_data(x, b"5", 1)
    a.set_acl(x, jc.OPEN_ACL, 3)
    a.set_acl(x, jc.OPEN_ACL, 0)
    a.set_acl(x, jc.OPEN_ACL, 0)
    a.check(x, 1)
    a.check(x, 2)
    a.delete(x, 1)
    a.delete(x, -2)
    a.delete(x, 2)


@scenario()
def err_notempty(run):
    a = base(run)
    a.create(run.p("x"))
    a.create(run.p("x/y"))
    a.delete(run.p("x"))
    a.delete(run.p())
    a.delete(run.p("x/y"))
    a.delete(run.p("x"))
    a.get_children2(run.p())


@scenario()
def err_children_of_ephemeral(run):
    a = base(run)
    a.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    for flags in range(7):
        if flags in (5, 6):
            a.create_ttl(run.p("e/c"), flags=flags)
        else:
            a.create(run.p("e/c"), flags=flags)
    a.create2(run.p("e/c"))
    a.multi([jc.op_create(run.p("e/c"))])
    a.get_children2(run.p("e"))


@scenario()
def err_unimplemented_ops(run):
    a = base(run)
    a.req(jc.OP_DELETE_CONTAINER, jc.encode_path(run.p()))
    a.exists(run.p())


@scenario()
def err_nowatcher(run):
    a = base(run)
    for watcher_type in (1, 2, 3, 4, 5):
        a.check_watches(run.p(), watcher_type)
        a.remove_watches(run.p(), watcher_type)
    a.check_watches(run.p("missing"), 3)
    a.remove_watches(run.p("missing"), 3)


def _big_data_scenario(size, op):
    def body(run):
        a = base(run)
        data = b"z" * size
        if op == "create":
            a.create(run.p("big"), data)
        else:
            a.create(run.p("big"), b"")
            a.set_data(run.p("big"), data)
        b = run.session()
        b.exists(run.p("big"))
        b.get_data(run.p("big"))
    return body


for _size in (1000000, 1048000, 1048576, 1100000):
    for _op in ("create", "setData"):
        scenario(f"bigdata_{_op}_{_size}")(_big_data_scenario(_size, _op))


@scenario()
def err_data_edge_values(run):
    a = base(run)
    a.req(jc.OP_CREATE, jc.Writer().string(run.p("null")).buffer(None).acl(jc.OPEN_ACL)
          .int(0).bytes())
    a.get_data(run.p("null"))
    a.create(run.p("empty"), b"")
    a.get_data(run.p("empty"))
    a.req(jc.OP_SET_DATA, jc.Writer().string(run.p("empty")).buffer(None).int(-1).bytes())
    a.get_data(run.p("empty"))
    a.create(run.p("bin"), bytes(range(256)))
    a.get_data(run.p("bin"))


@scenario()
def err_bad_flags(run):
    a = base(run)
    for flags in (7, -1, 100, 8):
        a.create(run.p(f"f{flags}"), b"", flags=flags)
    a.create_container(run.p("cc"), flags=0)
    a.create_container(run.p("cc2"), flags=1)
    a.create_ttl(run.p("tt"), flags=0, ttl=100)
    a.create_ttl(run.p("tt2"), flags=1, ttl=100)
    a.get_children(run.p())


# ================================================================ ACLs
INVALID_ACLS = {
    "empty": [], "null": None, "auth_no_auth": [(31, "auth", "")],
    "digest_no_colon": [(31, "digest", "nocolon")],
    "ip_bad": [(31, "ip", "1.2.3")], "ip_bad_mask": [(31, "ip", "127.0.0.1/99")],
    "unknown_scheme": [(31, "foo", "bar")], "world_other": [(31, "world", "someone")],
    "super_scheme": [(31, "super", "x")], "perms_zero": [(0, "world", "anyone")],
    "perms_high": [(0x7fffffff, "world", "anyone")], "ip_ok_v6": [(31, "ip", "::1")],
    "ip_cidr_ok": [(31, "ip", "127.0.0.0/8")], "digest_ok": [(31, "digest", "u:p")],
    "duplicate": [(1, "world", "anyone"), (1, "world", "anyone")],
}


def _acl_validity_scenario(acl):
    def body(run):
        a = base(run)
        a.create(run.p("x"), b"", acl)
        a.create(run.p("y"), b"")
        a.set_acl(run.p("y"), acl)
        a.get_acl(run.p("x"))
        a.get_acl(run.p("y"))
        a.multi([jc.op_create(run.p("z"), b"", acl)])
    return body


for _name, _acl in INVALID_ACLS.items():
    scenario(f"acl_valid_{_name}")(_acl_validity_scenario(_acl))


def _perm_scenario(perms):
    def body(run):
        a = base(run)
        x = run.p("x")
        a.create(x, b"d")
        a.create(run.p("x/old"), b"")
        a.set_acl(x, [(perms, "world", "anyone")])
        b = run.session()
        b.get_data(x)
        b.exists(x)
        b.get_children(x)
        b.get_children2(x)
        b.get_acl(x)
        b.create(run.p("x/new"), b"")
        b.delete(run.p("x/old"))
        b.set_data(x, b"e")
        b.check(x, 0)
        b.multi([jc.op_check(x, 0), jc.op_set_data(x, b"m")])
        b.multi_read([jc.op_get_data(x), jc.op_get_children(x)])
        b.set_acl(x, jc.OPEN_ACL)
        b.sync(x)
        b.get_all_children_number(x)
        b.add_watch(x, 0)
        b.get_data(x, watch=True)
        a.set_data(x, b"f")
        b.drain()
    return body


for _perms in (0, 1, 2, 4, 8, 16, 31, 5, 3):
    scenario(f"acl_perms_{_perms}")(_perm_scenario(_perms))


@scenario()
def acl_digest(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"secret", [(31, "digest", digest_id("alice", "pw"))])
    b = run.session()
    b.get_data(x)
    b.auth("digest", b"alice:wrong")
    b.get_data(x)
    b.auth("digest", b"alice:pw")
    b.get_data(x)
    b.get_acl(x)
    b.who_am_i()
    b.set_acl(x, [(1, "world", "anyone"), (31, "digest", digest_id("alice", "pw"))], 0)
    a.get_data(x)
    a.get_acl(x)


@scenario()
def acl_auth_scheme(run):
    a = base(run)
    a.auth("digest", b"bob:pw")
    a.auth("digest", b"carol:pw2")
    a.create(run.p("x"), b"", jc.CREATOR_ALL_ACL)
    a.get_acl(run.p("x"))
    a.create(run.p("y"), b"", [(1, "auth", "ignored"), (2, "world", "anyone")])
    a.get_acl(run.p("y"))
    b = run.session()
    b.get_data(run.p("x"))
    b.auth("digest", b"carol:pw2")
    b.get_data(run.p("x"))
    b.set_data(run.p("y"), b"w")
    b.get_data(run.p("y"))


@scenario()
def acl_ip(run):
    a = base(run)
    a.create(run.p("lo"), b"1", [(31, "ip", "127.0.0.1")])
    a.create(run.p("net"), b"2", [(31, "ip", "127.0.0.0/8")])
    a.create(run.p("other"), b"3", [(31, "ip", "10.1.2.3")])
    a.create(run.p("othernet"), b"4", [(31, "ip", "10.0.0.0/8"), (1, "ip", "127.0.0.1/32")])
    for name in ("lo", "net", "other", "othernet"):
        a.get_data(run.p(name))
        a.set_data(run.p(name), b"w")
        a.get_acl(run.p(name))


@scenario()
def acl_aversion(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"")
    for version in range(3):
        a.set_acl(x, [(31 - version, "world", "anyone")], version)
    a.set_acl(x, jc.OPEN_ACL, -1)
    a.exists(x)
    a.set_data(x, b"d")
    a.get_acl(x)
    a.multi([jc.op_check(x, 1)])


@scenario()
def acl_super(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"", [(0, "world", "anyone")])
    a.create(run.p("y"), b"", [(31, "digest", digest_id("zed", "pw"))])
    s = run.session()
    s.get_data(x)
    s.auth("digest", SUPER_PASSWORD)
    s.get_data(x)
    s.set_data(x, b"by super")
    s.get_acl(run.p("y"))
    s.set_acl(x, jc.OPEN_ACL)
    s.delete(run.p("y"))
    s.who_am_i()
    a.get_data(x)


@scenario()
def acl_bad_auth_scheme(run):
    a = base(run)
    a.auth("nosuchscheme", b"x")
    a.expect_close()
    b = run.session()
    b.auth("digest", b"nocolon")
    b.who_am_i()
    b.auth("ip", b"127.0.0.1")
    b.who_am_i()
    b.auth("world", b"anyone")
    b.exists(run.p())


@scenario()
def acl_who_am_i(run):
    a = base(run)
    a.who_am_i()
    a.auth("digest", b"u1:p1")
    a.auth("digest", b"u1:p1")
    a.auth("digest", b"u2:p2")
    a.who_am_i()


@scenario()
def acl_get_acl_masking(run):
    a = base(run)
    a.create(run.p("x"), b"", [(1, "world", "anyone"), (31, "digest", digest_id("q", "r"))])
    b = run.session()
    b.get_acl(run.p("x"))
    b.auth("digest", b"q:r")
    b.get_acl(run.p("x"))


@scenario()
def acl_delete_needs_parent_delete(run):
    a = base(run)
    a.create(run.p("x"), b"", [(31 & ~8, "world", "anyone")])
    a.create(run.p("x/y"), b"", [(0, "world", "anyone")])
    a.delete(run.p("x/y"))
    a.set_acl(run.p("x"), jc.OPEN_ACL)
    a.delete(run.p("x/y"))
    a.delete(run.p("x"))


# ================================================================ multi
@scenario()
def multi_success_mixed(run):
    a = base(run)
    x = run.p("x")
    a.multi([jc.op_create(x, b"1"), jc.op_set_data(x, b"2"), jc.op_check(x, 1),
             jc.op_create(run.p("x/y"), b"", opcode=jc.OP_CREATE2),
             jc.op_delete(run.p("x/y")), jc.op_set_data(x, b"3", 1)])
    a.get_data(x)
    a.get_children2(x)


def _multi_fail_scenario(position):
    def body(run):
        a = base(run)
        a.create(run.p("e"), b"0")
        ops = [jc.op_create(run.p("a"), b""), jc.op_set_data(run.p("e"), b"1"),
               jc.op_create(run.p("b"), b"", flags=jc.PERSISTENT_SEQUENTIAL),
               jc.op_check(run.p("e"), 1)]
        failing = {"first": 0, "middle": 2, "last": 4}[position]
        bad = jc.op_check(run.p("nope"), 0)
        ops.insert(failing, bad)
        a.multi(ops)
        a.get_children2(run.p())
        a.get_data(run.p("e"))
        a.create(run.p("b"), b"", flags=jc.PERSISTENT_SEQUENTIAL)
    return body


for _pos in ("first", "middle", "last"):
    scenario(f"multi_fail_{_pos}")(_multi_fail_scenario(_pos))


def _multi_error_kind(name, make_ops):
    def body(run):
        a = base(run)
        a.create(run.p("x"), b"")
        a.create(run.p("x/c"), b"")
        a.create(run.p("eph"), b"", flags=jc.EPHEMERAL)
        a.create(run.p("locked"), b"", [(1, "world", "anyone")])
        a.multi(make_ops(run))
        a.get_children2(run.p())
        a.get_data(run.p("x"))
    scenario(f"multi_err_{name}")(body)


_multi_error_kind("nodeexists", lambda r: [jc.op_create(r.p("n")), jc.op_create(r.p("x"))])
_multi_error_kind("badversion", lambda r: [jc.op_set_data(r.p("x"), b"a", 0),
                                           jc.op_set_data(r.p("x"), b"b", 0)])
_multi_error_kind("notempty", lambda r: [jc.op_delete(r.p("x"))])
_multi_error_kind("delete_then_use", lambda r: [jc.op_delete(r.p("x/c")),
                                                jc.op_delete(r.p("x")),
                                                jc.op_set_data(r.p("x"), b"")])
_multi_error_kind("ephemeral_child", lambda r: [jc.op_create(r.p("eph/c"))])
_multi_error_kind("noauth", lambda r: [jc.op_create(r.p("n")),
                                       jc.op_set_data(r.p("locked"), b"")])
_multi_error_kind("badpath", lambda r: [jc.op_create(r.p("n")), jc.op_create(r.p("n/"))])
_multi_error_kind("invalidacl", lambda r: [jc.op_create(r.p("n"), b"", [])])
_multi_error_kind("two_failures", lambda r: [jc.op_check(r.p("x"), 7),
                                             jc.op_create(r.p("x"))])
_multi_error_kind("create_then_delete", lambda r: [jc.op_create(r.p("t")),
                                                   jc.op_delete(r.p("t")),
                                                   jc.op_check(r.p("t"), -1)])
_multi_error_kind("check_any_version", lambda r: [jc.op_check(r.p("x"), -1),
                                                  jc.op_check(r.p("x"), 0)])
_multi_error_kind("read_in_write_multi", lambda r: [jc.op_create(r.p("n")),
                                                    jc.op_get_data(r.p("x"))])


@scenario()
def multi_empty(run):
    a = base(run)
    a.multi([])
    a.multi_read([])
    a.exists(run.p())


@scenario()
def multi_read_mixed(run):
    a = base(run)
    a.create(run.p("x"), b"data")
    a.create(run.p("x/k1"), b"")
    a.create(run.p("secret"), b"", [(2, "world", "anyone")])
    a.multi_read([jc.op_get_data(run.p("x")), jc.op_get_children(run.p("x")),
                  jc.op_get_data(run.p("missing")), jc.op_get_children(run.p("missing")),
                  jc.op_get_data(run.p("secret")), jc.op_get_data(run.p("x"))])
    a.multi_read([jc.op_get_data(run.p("x")), jc.op_create(run.p("w"))])
    a.exists(run.p("w"))


@scenario()
def multi_sequential(run):
    a = base(run)
    a.multi([jc.op_create(run.p("s-"), b"", flags=2), jc.op_create(run.p("s-"), b"", flags=2),
             jc.op_create(run.p("e-"), b"", flags=3)])
    a.multi([jc.op_create(run.p("s-"), b"", flags=2), jc.op_check(run.p(), 99)])
    a.create(run.p("s-"), b"", flags=2)
    a.get_children2(run.p())


@scenario()
def multi_watches(run):
    a = base(run)
    b = run.session()
    a.create(run.p("x"), b"")
    b.get_data(run.p("x"), watch=True)
    b.get_children(run.p(), watch=True)
    b.exists(run.p("new"), watch=True)
    a.multi([jc.op_set_data(run.p("x"), b"1"), jc.op_create(run.p("new")),
             jc.op_delete(run.p("x"))])
    b.drain()
    b.get_children(run.p(), watch=True)
    a.multi([jc.op_create(run.p("z")), jc.op_check(run.p(), 42)])
    b.drain()


@scenario()
def multi_large_batch(run):
    a = base(run)
    a.multi([jc.op_create(run.p(f"n{i:03d}"), bytes([i])) for i in range(200)])
    a.get_children2(run.p())
    a.get_all_children_number(run.p())
    a.multi([jc.op_delete(run.p(f"n{i:03d}")) for i in range(0, 200, 2)])
    a.get_children2(run.p())


@scenario()
def multi_garbage_op_type(run):
    a = base(run)
    body = jc.Writer().int(jc.OP_SYNC).bool(False).int(-1).string(run.p()).int(-1) \
        .bool(True).int(-1).bytes()
    a.req(jc.OP_MULTI, body)
    a.expect_close(1.5)


# ================================================================ sequential
@scenario()
def seq_counter_across_deletes(run):
    a = base(run)
    for _ in range(3):
        a.create(run.p("s"), b"", flags=jc.PERSISTENT_SEQUENTIAL)
    a.delete(run.p("s0000000001"))
    a.delete(run.p("s0000000002"))
    a.create(run.p("s"), b"", flags=jc.PERSISTENT_SEQUENTIAL)
    a.create(run.p("plain"), b"")
    a.delete(run.p("plain"))
    a.create(run.p("s"), b"", flags=jc.EPHEMERAL_SEQUENTIAL)
    a.get_children2(run.p())


@scenario()
def seq_mixed_children(run):
    a = base(run)
    a.create(run.p("a"), b"")
    a.create(run.p("q-"), b"", flags=2)
    a.create(run.p("b"), b"")
    a.create(run.p("q-"), b"", flags=2)
    a.create(run.p("0000000003"), b"")
    a.create(run.p(""), b"", flags=2)
    a.create(run.p(""), b"", flags=2)
    a.get_children2(run.p())


@scenario()
def seq_many_format(run):
    a = base(run)
    a.multi([jc.op_create(run.p("x"), b"", flags=2) for _ in range(12)])
    a.create2(run.p("x"), b"", flags=2)
    a.get_children(run.p())


@scenario()
def seq_cversion_after_set_acl_and_data(run):
    a = base(run)
    a.set_data(run.p(), b"changed")
    a.set_acl(run.p(), jc.OPEN_ACL)
    a.create(run.p("x"), b"", flags=2)
    a.get_children2(run.p())


@scenario()
def seq_in_nested(run):
    a = base(run)
    a.create(run.p("d"), b"")
    a.create(run.p("d/"), b"", flags=2)
    a.create(run.p("d/x"), b"", flags=6 - 4)
    a.create(run.p("d/"), b"", flags=3)
    a.get_children2(run.p("d"))
    a.delete(run.p("d/0000000000"))
    a.get_children2(run.p("d"))


# ================================================================ ephemerals
@scenario()
def eph_owner_and_close(run):
    a = base(run)
    b = run.session()
    a.create(run.p("other"), b"")
    b.create(run.p("e1"), b"", flags=jc.EPHEMERAL)
    # The second ephemeral lives under another parent: the order in which
    # ZooKeeper deletes one session's ephemerals is a Java HashSet's (see
    # eph_close_deletion_order), which this scenario does not test.
    b.create(run.p("other/e2"), b"", flags=jc.EPHEMERAL_SEQUENTIAL)
    a.exists(run.p("e1"), watch=True)
    a.get_children(run.p(), watch=True)
    a.get_data(run.p("other/e20000000000"))
    b.get_ephemerals("/")
    b.get_ephemerals(run.p("e"))
    a.get_ephemerals("/")
    b.close()
    a.drain()
    a.get_children2(run.p())


@scenario()
def eph_delete_and_recreate(run):
    a = base(run)
    a.create(run.p("e"), b"1", flags=jc.EPHEMERAL)
    a.delete(run.p("e"))
    a.create(run.p("e"), b"2", flags=jc.EPHEMERAL)
    a.set_data(run.p("e"), b"3")
    a.get_data(run.p("e"))
    a.get_ephemerals(run.p())


@scenario()
def eph_other_session_delete(run):
    a = base(run)
    b = run.session()
    a.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    b.delete(run.p("e"))
    b.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    a.get_ephemerals(run.p())
    b.get_ephemerals(run.p())
    a.get_data(run.p("e"))


@scenario()
def eph_close_fires_watches(run):
    a = base(run)
    owner = run.session()
    watcher2 = run.session()
    owner.create(run.p("p"), b"")
    owner.create(run.p("p/e1"), b"", flags=jc.EPHEMERAL)
    owner.create(run.p("e2"), b"", flags=jc.EPHEMERAL)
    a.get_data(run.p("p/e1"), watch=True)
    a.get_children(run.p("p"), watch=True)
    a.exists(run.p("e2"), watch=True)
    watcher2.get_children(run.p(), watch=True)
    watcher2.add_watch(run.p(), jc.ADD_WATCH_PERSISTENT_RECURSIVE)
    owner.close()
    a.drain()
    watcher2.drain()


@scenario()
def eph_get_ephemerals_prefixes(run):
    a = base(run)
    for name in ("ab", "abc", "b", "a/"):
        a.create(run.p(name.rstrip("/")) + ("/" if name.endswith("/") else ""), b"",
                 flags=jc.EPHEMERAL if not name.endswith("/") else jc.EPHEMERAL_SEQUENTIAL)
    for prefix in ("", "/", run.p(), run.p("a"), run.p("ab"), run.p("z"), "/nonexistent"):
        a.get_ephemerals(prefix)


# ================================================================ sessions
def _timeout_scenario(requested):
    def body(run):
        a = run.session(timeout_ms=requested)
        a.exists("/zookeeper")
    return body


for _t in (0, 1, 999, 1000, 1001, 4321, 10000, 10001, 600000, -5):
    scenario(f"session_timeout_{_t}")(_timeout_scenario(_t))


@scenario()
def session_no_readonly_byte(run):
    a = run.session(send_read_only=False)
    a.create(run.p(), b"")
    b = run.session(read_only=True)
    b.exists(run.p())
    b.create(run.p("x"), b"")


@scenario()
def session_reconnect_keeps(run):
    a = base(run)
    a.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    a.drop()
    a.reconnect()
    a.exists(run.p("e"))
    a.get_ephemerals(run.p())
    a.reconnect(timeout_ms=4000)
    a.exists(run.p("e"))


@scenario()
def session_wrong_password(run):
    a = base(run)
    a.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    b = run.session("b", connect=False)
    b.connect(session_id=a.session_id, password=b"\x01" * 16)
    b.expect_close()
    b2 = run.session("c", connect=False)
    b2.connect(session_id=a.session_id, password=b"short")
    b2.expect_close()
    a.exists(run.p("e"))


@scenario()
def session_unknown_id(run):
    a = base(run)
    b = run.session("b", connect=False)
    b.connect(session_id=a.session_id + 12345, password=b"\x00" * 16)
    b.expect_close()


@scenario()
def session_reconnect_after_close(run):
    a = base(run)
    sid, pw = a.session_id, a.password
    a.close()
    b = run.session("b", connect=False)
    b.connect(session_id=sid, password=pw)
    b.expect_close()


@scenario()
def session_moved_connection(run):
    a = base(run)
    b = run.session("b", connect=False)
    b.connect(session_id=a.session_id, password=a.password)
    b.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    b.get_ephemerals(run.p())
    a.expect_close(2.0)


@scenario()
def session_zxid_ahead(run):
    a = base(run)
    b = run.session("b", connect=False)
    b.connect(last_zxid=1 << 40)
    b.expect_close()
    a.exists(run.p())


@scenario()
def session_close_twice(run):
    a = base(run)
    b = run.session()
    b.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    b.req(jc.OP_CLOSE_SESSION)
    b.req(jc.OP_EXISTS, jc.encode_path_watch(run.p("e"), False))
    b.expect_close()
    a.exists(run.p("e"))


@scenario()
def session_ping_zxids(run):
    a = base(run)
    a.ping()
    a.create(run.p("x"), b"")
    a.ping()
    a.req(jc.OP_PING, b"", xid=77)
    a.sync(run.p())
    a.sync("/")
    a.ping()


@scenario()
def session_xids_echoed(run):
    a = base(run)
    a.req(jc.OP_EXISTS, jc.encode_path_watch(run.p(), False), xid=1000)
    a.req(jc.OP_EXISTS, jc.encode_path_watch(run.p(), False), xid=5)
    a.req(jc.OP_CREATE, jc.encode_create(run.p("x")), xid=0)
    a.req(jc.OP_GET_DATA, jc.encode_path_watch(run.p(), False), xid=-77)
    a.req(jc.OP_GET_DATA, jc.encode_path_watch(run.p(), False), xid=2147483647)


@scenario()
def expiry_ephemeral(run):
    a = base(run)
    a.create(run.p("other"), b"")
    short = run.session(timeout_ms=EXPIRY_TIMEOUT_MS)
    short.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    short.create(run.p("other/f"), b"", flags=jc.EPHEMERAL_SEQUENTIAL)  # see eph_owner_and_close
    a.exists(run.p("e"), watch=True)
    a.get_children(run.p(), watch=True)
    a.wait_events(2)
    short.expect_close(4.0)
    short.reconnect()
    short.expect_close()
    a.get_children2(run.p())


@scenario()
def expiry_reconnect_in_time(run):
    a = base(run)
    short = run.session(timeout_ms=EXPIRY_TIMEOUT_MS)
    short.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    for _ in range(4):
        time.sleep(0.4)
        short.ping()
    short.drop()
    time.sleep(0.3)
    short.reconnect(timeout_ms=EXPIRY_TIMEOUT_MS)
    short.exists(run.p("e"))
    a.exists(run.p("e"))


# ================================================================ watches
@scenario()
def watch_data_changed(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"")
    a.get_data(x, watch=True)
    a.set_data(x, b"1")
    a.set_data(x, b"2")
    a.get_data(x, watch=True)
    a.get_data(x, watch=True)
    a.set_data(x, b"3")
    a.quiet()


@scenario()
def watch_data_deleted(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"")
    a.get_data(x, watch=True)
    a.exists(x, watch=True)
    a.delete(x)
    a.create(x, b"")
    a.quiet()


@scenario()
def watch_exists_created(run):
    a = base(run)
    b = run.session()
    x = run.p("x")
    a.exists(x, watch=True)
    b.exists(x, watch=True)
    b.create(x, b"")
    a.drain()
    a.exists(x, watch=True)
    b.set_data(x, b"d")
    a.drain()
    a.get_data(x)


@scenario()
def watch_child(run):
    a = base(run)
    a.get_children(run.p(), watch=True)
    a.create(run.p("c1"), b"")
    a.create(run.p("c2"), b"")
    a.get_children2(run.p(), watch=True)
    a.set_data(run.p(), b"no child event")
    a.delete(run.p("c1"))
    a.get_children(run.p(), watch=True)
    a.create(run.p("c2/g"), b"")
    a.quiet()


@scenario()
def watch_delete_order(run):
    a = base(run)
    b = run.session()
    x = run.p("x")
    a.create(x, b"")
    b.get_data(x, watch=True)
    b.get_children(x, watch=True)
    b.get_children(run.p(), watch=True)
    b.exists(x, watch=True)
    a.delete(x)
    b.drain()
    a.get_children(run.p(), watch=True)
    a.get_data(run.p(), watch=True)
    a.create(x, b"")
    a.delete(x)
    a.quiet()


@scenario()
def watch_event_before_read_reply(run):
    a = base(run)
    b = run.session()
    x = run.p("x")
    a.create(x, b"0")
    b.get_data(x, watch=True)
    a.set_data(x, b"1")
    b.get_data(x)  # the event must precede this reply
    b.get_children(run.p(), watch=True)
    a.create(run.p("y"), b"")
    b.get_children2(run.p())


@scenario()
def watch_multiple_sessions(run):
    a = base(run)
    sessions = [run.session() for _ in range(3)]
    x = run.p("x")
    a.create(x, b"")
    for s in sessions:
        s.get_data(x, watch=True)
        s.exists(x, watch=True)
    a.set_data(x, b"1")
    for s in sessions:
        s.drain()
    a.set_data(x, b"2")
    for s in sessions:
        s.drain()


@scenario()
def watch_persistent(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"")
    a.add_watch(x, jc.ADD_WATCH_PERSISTENT)
    a.set_data(x, b"1")
    a.set_data(x, b"2")
    a.create(run.p("x/c"), b"")
    a.set_data(run.p("x/c"), b"grandchild data: no event")
    a.create(run.p("x/c/g"), b"")
    a.delete(run.p("x/c/g"))
    a.delete(run.p("x/c"))
    a.delete(x)
    a.create(x, b"")
    a.check_watches(x, jc.WATCHER_PERSISTENT)
    a.check_watches(x, jc.WATCHER_DATA)
    a.quiet()


@scenario()
def watch_recursive(run):
    a = base(run)
    a.add_watch(run.p(), jc.ADD_WATCH_PERSISTENT_RECURSIVE)
    a.create(run.p("x"), b"")
    a.create(run.p("x/y"), b"")
    a.set_data(run.p("x/y"), b"1")
    a.create(run.p("x/y/z"), b"", flags=jc.EPHEMERAL)
    a.delete(run.p("x/y/z"))
    a.set_acl(run.p("x"), jc.OPEN_ACL)
    a.multi([jc.op_create(run.p("m")), jc.op_delete(run.p("m"))])
    a.check_watches(run.p(), jc.WATCHER_PERSISTENT_RECURSIVE)
    a.check_watches(run.p("x"), jc.WATCHER_PERSISTENT_RECURSIVE)
    a.quiet()


@scenario()
def watch_recursive_and_oneshot_together(run):
    a = base(run)
    a.create(run.p("x"), b"")
    a.add_watch(run.p(), jc.ADD_WATCH_PERSISTENT_RECURSIVE)
    a.get_data(run.p("x"), watch=True)
    a.add_watch(run.p("x"), jc.ADD_WATCH_PERSISTENT)
    a.get_children(run.p("x"), watch=True)
    a.set_data(run.p("x"), b"1")
    a.create(run.p("x/c"), b"")
    a.delete(run.p("x/c"))
    a.quiet()


@scenario()
def watch_persistent_other_session(run):
    a = base(run)
    b = run.session()
    b.add_watch(run.p(), jc.ADD_WATCH_PERSISTENT)
    b.add_watch(run.p(), jc.ADD_WATCH_PERSISTENT_RECURSIVE)
    a.create(run.p("c"), b"")
    a.set_data(run.p(), b"x")
    b.drain()
    a.delete(run.p("c"))
    b.drain()


@scenario()
def watch_add_watch_modes(run):
    a = base(run)
    a.add_watch(run.p(), 2)
    a.add_watch(run.p(), -1)
    a.add_watch(run.p("missing"), 0)
    a.add_watch(run.p("missing2"), 1)
    a.create(run.p("missing"), b"")
    a.create(run.p("missing2"), b"")
    a.create(run.p("missing2/c"), b"")
    a.quiet()


@scenario()
def watch_remove(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"")
    a.get_data(x, watch=True)
    a.get_children(x, watch=True)
    a.check_watches(x, jc.WATCHER_DATA)
    a.check_watches(x, jc.WATCHER_CHILDREN)
    a.remove_watches(x, jc.WATCHER_DATA)
    a.check_watches(x, jc.WATCHER_DATA)
    a.check_watches(x, jc.WATCHER_ANY)
    a.remove_watches(x, jc.WATCHER_DATA)
    a.set_data(x, b"no event")
    a.create(run.p("x/c"), b"")
    a.get_children(x, watch=True)
    a.exists(x, watch=True)
    a.remove_watches(x, jc.WATCHER_ANY)
    a.delete(run.p("x/c"))
    a.quiet()


@scenario()
def watch_remove_persistent(run):
    a = base(run)
    x = run.p("x")
    a.create(x, b"")
    a.add_watch(x, jc.ADD_WATCH_PERSISTENT)
    a.add_watch(x, jc.ADD_WATCH_PERSISTENT_RECURSIVE)
    a.remove_watches(x, jc.WATCHER_PERSISTENT)
    a.check_watches(x, jc.WATCHER_PERSISTENT)
    a.check_watches(x, jc.WATCHER_PERSISTENT_RECURSIVE)
    a.remove_watches(x, jc.WATCHER_DATA)
    a.remove_watches(x, jc.WATCHER_ANY)
    a.check_watches(x, jc.WATCHER_ANY)
    a.set_data(x, b"quiet")
    a.quiet()


@scenario()
def watch_exists_on_missing_remove(run):
    a = base(run)
    a.exists(run.p("m"), watch=True)
    a.check_watches(run.p("m"), jc.WATCHER_DATA)
    a.check_watches(run.p("m"), jc.WATCHER_CHILDREN)
    a.remove_watches(run.p("m"), jc.WATCHER_DATA)
    a.create(run.p("m"), b"")
    a.quiet()


@scenario()
def watch_set_watches(run):
    a = base(run)
    b = run.session()
    for name in ("d", "gone", "kids", "same"):
        a.create(run.p(name), b"")
    frame = a.exists(run.p())
    relative_zxid = frame.zxid if frame else 0
    a.set_data(run.p("d"), b"changed")
    a.delete(run.p("gone"))
    a.create(run.p("kids/c"), b"")
    a.create(run.p("born"), b"")
    b.set_watches(relative_zxid,
                  data=[run.p("d"), run.p("gone"), run.p("same"), run.p("never")],
                  exist=[run.p("born"), run.p("notyet"), run.p("same")],
                  child=[run.p("kids"), run.p("gone"), run.p("same")])
    b.drain()
    a.create(run.p("notyet"), b"")
    a.set_data(run.p("same"), b"now")
    a.create(run.p("same/c"), b"")
    b.drain()


@scenario()
def watch_set_watches2(run):
    a = base(run)
    b = run.session()
    a.create(run.p("p"), b"")
    a.create(run.p("r"), b"")
    frame = a.exists(run.p())
    relative_zxid = frame.zxid if frame else 0
    a.set_data(run.p("p"), b"1")
    b.set_watches2(relative_zxid, data=[run.p("p")], persistent=[run.p("p")],
                   recursive=[run.p("r")])
    b.drain()
    a.set_data(run.p("p"), b"2")
    a.create(run.p("r/x"), b"")
    a.create(run.p("r/x/y"), b"")
    a.create(run.p("p/c"), b"")
    b.drain()


@scenario()
def watch_set_watches_future_zxid(run):
    a = base(run)
    a.create(run.p("x"), b"")
    a.set_watches(1 << 50, data=[run.p("x")], exist=[run.p("y")], child=[run.p()])
    a.drain()
    a.set_data(run.p("x"), b"")
    a.create(run.p("y"), b"")
    a.quiet()


@scenario()
def watch_on_noauth(run):
    a = base(run)
    a.create(run.p("x"), b"", [(0, "world", "anyone")])
    b = run.session()
    b.get_data(run.p("x"), watch=True)
    b.exists(run.p("x"), watch=True)
    b.get_children(run.p("x"), watch=True)
    a.auth("digest", SUPER_PASSWORD)
    a.set_data(run.p("x"), b"1")
    a.create(run.p("x/c"), b"")
    b.drain()


@scenario()
def watch_sequential_and_ephemeral_children(run):
    a = base(run)
    b = run.session()
    b.get_children(run.p(), watch=True)
    a.create(run.p("s"), b"", flags=3)
    b.drain()
    b.get_children2(run.p(), watch=True)
    a.close()
    b.drain()


@scenario()
def watch_container_and_ttl(run):
    a = base(run)
    a.create_container(run.p("c"))
    a.create_ttl(run.p("t"), ttl=60000)
    a.get_data(run.p("c"), watch=True)
    a.get_data(run.p("t"), watch=True)
    a.set_data(run.p("c"), b"1")
    a.set_data(run.p("t"), b"1")
    a.delete(run.p("c"))
    a.quiet()


# ================================================================ misc ops
@scenario()
def misc_get_all_children_number(run):
    a = base(run)
    for path in ("a", "a/b", "a/b/c", "a/d", "e"):
        a.create(run.p(path), b"")
    for path in ("", "a", "a/b", "a/b/c", "e"):
        a.get_all_children_number(run.p(path) if path else run.p())
    a.get_all_children_number("/zookeeper")


@scenario()
def misc_sync_paths(run):
    a = base(run)
    a.sync(run.p())
    a.sync(run.p("missing"))
    a.sync("/")
    a.sync("")
    a.sync("nonabsolute")


@scenario()
def misc_reconfig_and_sasl(run):
    a = base(run)
    a.reconfig()
    a.reconfig("server.2=127.0.0.1:2888:3888", "", "", -1)
    a.reconfig("", "1", "", -1)
    a.sasl(b"")
    a.sasl(b"\x00\x01token")
    a.exists(run.p())


@scenario()
def misc_zookeeper_node(run):
    a = base(run)
    a.get_children2("/zookeeper")
    a.get_data("/zookeeper")
    a.get_acl("/zookeeper")
    a.get_data("/zookeeper/quota")
    a.exists("/zookeeper/config")
    a.get_ephemerals("/zookeeper")


@scenario()
def misc_stat_fields(run):
    a = base(run)
    x = run.p("x")
    a.create2(x, b"abc")
    a.create(run.p("x/c1"), b"")
    a.create(run.p("x/c2"), b"")
    a.delete(run.p("x/c1"))
    a.set_data(x, b"defgh")
    a.set_acl(x, jc.READ_ACL + [(30, "ip", "127.0.0.1")])
    a.exists(x)
    a.get_data(x)
    a.get_children2(x)
    a.get_acl(x)
    a.set_data(x, b"")
    a.get_data(x)


@scenario()
def misc_set_data_same_value(run):
    a = base(run)
    a.create(run.p("x"), b"v")
    a.set_data(run.p("x"), b"v")
    a.set_data(run.p("x"), b"v", 1)
    a.get_data(run.p("x"))


@scenario()
def misc_check_standalone(run):
    a = base(run)
    a.check(run.p(), 0)
    a.check(run.p(), 1)
    a.check(run.p(), -1)
    a.check(run.p("missing"), -1)


@scenario()
def misc_pipelined(run):
    a = base(run)
    if a.dead:
        return
    xids = []
    for i in range(20):
        xids.append(a.client.send_request(jc.OP_CREATE, jc.encode_create(run.p(f"n{i}"))))
        a.run.opcode_of_xid[(a.label, xids[-1])] = jc.OP_CREATE
    xids.append(a.client.send_request(jc.OP_GET_CHILDREN,
                                      jc.encode_path_watch(run.p(), False)))
    a.run.opcode_of_xid[(a.label, xids[-1])] = jc.OP_GET_CHILDREN
    for _ in xids:
        try:
            a._log_frame(a.client.read_frame(), "pipelined")
        except Exception as error:  # noqa: BLE001 - log whatever happened
            a.log("pipelined", type(error).__name__)
            break


@scenario()
def misc_delete_versions(run):
    a = base(run)
    a.create(run.p("x"), b"")
    a.set_data(run.p("x"), b"1")
    a.delete(run.p("x"), 0)
    a.delete(run.p("x"), 1)
    a.exists(run.p("x"))


# ================================================================ garbage
def _garbage_scenario(make_bytes, after_handshake=True):
    def body(run):
        a = base(run)
        b = run.session("b", connect=after_handshake)
        if not after_handshake:
            import jute_client
            b.client = jute_client.JuteClient(b.address, 5.0)
        b.send_raw(make_bytes(run))
        b.expect_close()
        b.exists(run.p())  # DEAD if closed; else the connection must still work
        a.exists(run.p())
    return body


def _frame(payload):
    return len(payload).to_bytes(4, "big", signed=True) + payload


GARBAGE = {
    "unknown_opcode": lambda r: _frame(jc.Writer().int(1).int(999).bytes()),
    "unknown_opcode_negative": lambda r: _frame(jc.Writer().int(1).int(-55).bytes()),
    "truncated_create": lambda r: _frame(jc.Writer().int(1).int(jc.OP_CREATE).bytes()
                                         + jc.encode_create(r.p("t"))[:9]),
    "truncated_getdata": lambda r: _frame(jc.Writer().int(1).int(jc.OP_GET_DATA).bytes()
                                          + b"\x00\x00\x01\x00/d"),
    "header_only_2_bytes": lambda r: _frame(b"\x00\x01"),
    "negative_length": lambda r: b"\xff\xff\xff\xf0",
    "huge_length": lambda r: (200 * 1024 * 1024).to_bytes(4, "big") + b"x" * 100,
    "string_len_negative_2": lambda r: _frame(jc.Writer().int(1).int(jc.OP_EXISTS)
                                              .int(-2).bytes()),
    "string_len_huge": lambda r: _frame(jc.Writer().int(1).int(jc.OP_EXISTS)
                                        .int(0x7fffffff).bytes()),
    "acl_count_huge": lambda r: _frame(jc.Writer().int(1).int(jc.OP_CREATE)
                                       .string(r.p("q")).buffer(b"").int(0x7fffffff)
                                       .bytes()),
    "notification_opcode": lambda r: _frame(jc.Writer().int(1).int(0).bytes()),
    "create_session_opcode": lambda r: _frame(jc.Writer().int(1).int(-10).bytes()),
}

for _name, _make in GARBAGE.items():
    scenario(f"garbage_{_name}")(_garbage_scenario(_make))

GARBAGE_BEFORE_HANDSHAKE = {
    "short_connect": lambda r: _frame(b"\x00\x00\x00\x00\x00"),
    "random_connect": lambda r: _frame(bytes(range(7, 52))),
    "connect_negative_length": lambda r: b"\x80\x00\x00\x00",
    "zero_length": lambda r: b"\x00\x00\x00\x00",
    "request_before_connect": lambda r: _frame(jc.Writer().int(1).int(jc.OP_EXISTS)
                                               .string("/").bool(False).bytes()),
}

for _name, _make in GARBAGE_BEFORE_HANDSHAKE.items():
    scenario(f"garbage_pre_{_name}")(_garbage_scenario(_make, after_handshake=False))


@scenario()
def garbage_trailing_bytes(run):
    a = base(run)
    a.req(jc.OP_EXISTS, jc.encode_path_watch(run.p(), False) + b"extra-bytes")
    a.req(jc.OP_CREATE, jc.encode_create(run.p("t")) + b"\x00\x00")
    a.exists(run.p("t"))


@scenario()
def garbage_after_good_requests(run):
    a = base(run)
    b = run.session()
    b.get_data(run.p(), watch=True)
    b.send_raw(_frame(jc.Writer().int(9).int(4242).bytes()))
    b.expect_close()
    a.set_data(run.p(), b"after")
    a.get_data(run.p())


def _four_letter_scenario(word):
    def body(run):
        a = base(run)
        b = run.session("b", connect=False)
        b.client = jc.JuteClient(b.address, 5.0)
        b.send_raw(word)
        b.read_raw_until_close()
        a.exists(run.p())
    return body


for _word in (b"ruok", b"isro", b"xyzw", b"ruok\n"):
    scenario(f"fourletter_{_word.decode().strip()}_{len(_word)}")(_four_letter_scenario(_word))


@scenario()
def watch_set_watches_zero_zxid(run):
    a = base(run)
    a.create(run.p("x"), b"")
    b = run.session()
    b.set_watches(0, data=[run.p("x")], exist=[run.p("x"), run.p("y")], child=[run.p()])
    b.drain()
    a.create(run.p("y"), b"")
    b.drain()


@scenario()
def watch_child_of_ephemeral_parent_read(run):
    a = base(run)
    a.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    a.get_children2(run.p("e"), watch=True)
    a.get_all_children_number(run.p("e"))
    a.delete(run.p("e"))
    a.quiet()


@scenario()
def acl_auth_multiple_ids_then_read(run):
    a = base(run)
    a.auth("digest", b"m1:p")
    a.auth("digest", b"m2:p")
    a.create(run.p("x"), b"", [(31, "auth", "")])
    a.set_acl(run.p("x"), [(3, "auth", ""), (1, "world", "anyone")])
    a.get_acl(run.p("x"))
    b = run.session()
    b.auth("digest", b"m2:p")
    b.set_data(run.p("x"), b"m2")
    b.set_acl(run.p("x"), jc.OPEN_ACL)


@scenario()
def session_reconnect_watches_survive(run):
    a = base(run)
    a.create(run.p("x"), b"")
    a.get_data(run.p("x"), watch=True)
    a.drop()
    a.reconnect()
    b = run.session()
    b.set_data(run.p("x"), b"changed")
    a.drain()


@scenario()
def session_protocol_version_nonzero(run):
    a = run.session(protocol_version=7)
    a.exists("/zookeeper")


@scenario()
def session_new_with_nonzero_password(run):
    a = run.session(password=b"\x07" * 16)
    a.create(run.p(), b"")
    b = run.session(password=b"short")
    b.exists(run.p())


@scenario()
def multi_events_order_single_session(run):
    a = base(run)
    a.create(run.p("x"), b"")
    a.get_data(run.p("x"), watch=True)
    a.get_children(run.p(), watch=True)
    a.exists(run.p("y"), watch=True)
    a.multi([jc.op_create(run.p("y"), b""), jc.op_set_data(run.p("x"), b"1"),
             jc.op_delete(run.p("y"))])
    a.quiet()


@scenario()
def multi_ttl_and_container(run):
    a = base(run)
    a.multi([jc.op_create_ttl(run.p("t0"), ttl=0)])
    a.multi([jc.op_create_ttl(run.p("t1"), ttl=1000, flags=jc.PERSISTENT)])
    a.multi([jc.op_create(run.p("c"), flags=jc.CONTAINER, opcode=jc.OP_CREATE_CONTAINER),
             jc.op_create(run.p("c/k"))])
    a.get_children2(run.p())
    a.get_children2(run.p("c"))


@scenario()
def multi_ephemerals_then_close(run):
    a = base(run)
    b = run.session()
    b.multi([jc.op_create(run.p("e1"), flags=jc.EPHEMERAL),
             jc.op_create(run.p("e2"), flags=jc.EPHEMERAL_SEQUENTIAL)])
    b.get_ephemerals(run.p())
    a.get_children(run.p(), watch=True)
    b.close()
    a.drain()
    a.get_children2(run.p())


@scenario()
def watch_remove_other_sessions_watch(run):
    a = base(run)
    b = run.session()
    a.create(run.p("x"), b"")
    b.get_data(run.p("x"), watch=True)
    a.remove_watches(run.p("x"), jc.WATCHER_DATA)
    a.check_watches(run.p("x"), jc.WATCHER_ANY)
    a.set_data(run.p("x"), b"1")
    b.drain()


@scenario()
def watch_many_paths(run):
    a = base(run)
    b = run.session()
    a.multi([jc.op_create(run.p(f"n{i}")) for i in range(30)])
    for i in range(30):
        b.exists(run.p(f"n{i}"), watch=True)
    a.multi([jc.op_set_data(run.p(f"n{i}"), b"v") for i in range(30)])
    b.drain()


@scenario()
def watch_recursive_noauth_child(run):
    a = base(run)
    b = run.session()
    b.add_watch(run.p(), jc.ADD_WATCH_PERSISTENT_RECURSIVE)
    a.create(run.p("secret"), b"", [(0, "world", "anyone")])
    a.create(run.p("open"), b"")
    b.drain()


@scenario()
def eph_get_ephemerals_after_delete(run):
    a = base(run)
    a.create(run.p("e"), b"", flags=jc.EPHEMERAL)
    a.create(run.p("f"), b"", flags=jc.EPHEMERAL)
    a.delete(run.p("e"))
    a.get_ephemerals(run.p())
    a.multi([jc.op_delete(run.p("f")), jc.op_create(run.p("g"), flags=jc.EPHEMERAL)])
    a.get_ephemerals(run.p())


@scenario()
def eph_set_data_other_session(run):
    a = base(run)
    b = run.session()
    a.create(run.p("e"), b"a", flags=jc.EPHEMERAL)
    b.set_data(run.p("e"), b"b")
    b.set_acl(run.p("e"), jc.READ_ACL)
    a.get_data(run.p("e"))
    a.set_data(run.p("e"), b"c")


@scenario()
def acl_create_needs_parent_create(run):
    a = base(run)
    a.create(run.p("p"), b"", [(31 & ~4, "world", "anyone")])
    a.create(run.p("p/c"), b"")
    a.create(run.p("p/s"), b"", flags=jc.PERSISTENT_SEQUENTIAL)
    a.multi([jc.op_create(run.p("p/m"))])
    a.get_children2(run.p("p"))


@scenario()
def acl_set_acl_needs_admin(run):
    a = base(run)
    a.create(run.p("x"), b"", [(15, "world", "anyone")])
    a.set_acl(run.p("x"), jc.OPEN_ACL)
    a.get_acl(run.p("x"))
    a.auth("digest", SUPER_PASSWORD)
    a.set_acl(run.p("x"), jc.OPEN_ACL, 0)
    a.get_acl(run.p("x"))


@scenario()
def seq_parent_cversion_by_other_session(run):
    a = base(run)
    b = run.session()
    a.create(run.p("s"), b"", flags=2)
    b.create(run.p("t"), b"", flags=3)
    b.close()
    a.create(run.p("s"), b"", flags=2)
    a.get_children2(run.p())


@scenario()
def eph_close_deletion_order(run):
    """ZooKeeper deletes a closing session's ephemerals in the iteration order
    of a java.util.HashSet<String> of their paths (bucket (h ^ h>>>16) & 15 of
    String.hashCode, for up to 12 paths), firing each node's watches as it goes.
    One exists watch per node makes that order visible."""
    a = base(run)
    b = run.session()
    names = ["alpha", "beta", "gamma", "delta", "x1", "x2", "z"]
    for name in names:
        b.create(run.p(name), b"", flags=jc.EPHEMERAL)
        a.exists(run.p(name), watch=True)
    b.close()
    a.drain()


def _frame_size_scenario(frame_bytes):
    """A create whose whole frame (length prefix excluded) is exactly
    frame_bytes long: the jute.maxbuffer boundary (0xfffff = 1048575)."""
    def body(run):
        a = base(run)
        path = run.p("edge")
        empty = jc.encode_create(path, b"")
        data_bytes = frame_bytes - 8 - len(empty)  # 8: RequestHeader{xid, type}
        a.create(path, b"e" * data_bytes)
        b = run.session()
        b.exists(path)
    return body


for _frame_bytes in (1048575 - 1024, 1048575, 1048576, 1048575 + 1024, 1048575 + 1025):
    scenario(f"maxbuffer_frame_{_frame_bytes}")(_frame_size_scenario(_frame_bytes))

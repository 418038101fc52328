/*
 * Writes the seed corpora of the collector's fuzz harnesses (committed
 * under tests/fuzz/corpus/fuzz_collector_*): valid messages of every kind
 * the collector takes, so that fuzzing starts past the first checks.
 *
 *   make build/fuzz/collector_seeds && build/fuzz/collector_seeds tests/fuzz/corpus
 *
 * Seeds that a harness reads with a leading byte (role, action, "after
 * hello") or as length-prefixed records are written that way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector_fuzz.h"
#include "crypto.h"
#include "util.h"
#include "wire.h"

static const char *root;

/* Writes prefix (if >= 0), then m packed, to ROOT/fuzz_collector_<h>/<name>. */
static void put(const char *h, const char *name, int prefix, const ProtobufCMessage *m)
{
    char dir[512], path[700];
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n + 1);
    FILE *f;

    if (!buf)
        abort();
    protobuf_c_message_pack(m, buf);
    snprintf(dir, sizeof(dir), "%s/fuzz_collector_%s", root, h);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        perror(dir);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!(f = fopen(path, "wb"))) {
        perror(path);
        exit(1);
    }
    if (prefix >= 0)
        fputc(prefix, f);
    fwrite(buf, 1, n, f);
    fclose(f);
    free(buf);
}

static uint8_t epoch[16] = { 0xfa, 0x22, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 };

static void hello(Vigil__V1__Hello *h)
{
    vigil__v1__hello__init(h);
    h->protocol_version = 1;
    h->agent_id = FZ_AGENT;
    h->hostname = "fuzz-host";
    h->software_version = "0.1.0";
    h->stream_epoch.data = epoch;
    h->stream_epoch.len = sizeof(epoch);
}

static void seeds_hello(void)
{
    Vigil__V1__Hello h;
    hello(&h);
    put("hello", "valid", -1, &h.base);
    h.agent_id = "someone-else";
    put("hello", "other-agent", -1, &h.base);
    h.agent_id = FZ_AGENT;
    h.protocol_version = 2;
    put("hello", "version-2", -1, &h.base);
}

static void seeds_batch(void)
{
    Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
    Vigil__V1__Event ev[12], *evp[12];
    Vigil__V1__OsState os = VIGIL__V1__OS_STATE__INIT;
    Vigil__V1__AgentHealth ah = VIGIL__V1__AGENT_HEALTH__INIT;
    Vigil__V1__LossRecord lr = VIGIL__V1__LOSS_RECORD__INIT;
    Vigil__V1__AgentTamper at = VIGIL__V1__AGENT_TAMPER__INIT;
    Vigil__V1__Package pk = VIGIL__V1__PACKAGE__INIT, pk2 = VIGIL__V1__PACKAGE__INIT, *pks[2];
    Vigil__V1__PackageInventory inv = VIGIL__V1__PACKAGE_INVENTORY__INIT;
    Vigil__V1__PackageDelta dl = VIGIL__V1__PACKAGE_DELTA__INIT;
    Vigil__V1__PendingUpdate pu = VIGIL__V1__PENDING_UPDATE__INIT, *pus[1] = { &pu };
    Vigil__V1__PendingUpdates pd = VIGIL__V1__PENDING_UPDATES__INIT;
    Vigil__V1__PackageEvent pe = VIGIL__V1__PACKAGE_EVENT__INIT, *pes[1] = { &pe };
    Vigil__V1__PackageHistory ph = VIGIL__V1__PACKAGE_HISTORY__INIT;
    Vigil__V1__ProcessExec px = VIGIL__V1__PROCESS_EXEC__INIT;
    Vigil__V1__ProcessExit pxe = VIGIL__V1__PROCESS_EXIT__INIT;
    Vigil__V1__ProcessInfo pi = VIGIL__V1__PROCESS_INFO__INIT, *pis[1] = { &pi };
    Vigil__V1__ProcessSnapshot ps = VIGIL__V1__PROCESS_SNAPSHOT__INIT;
    Vigil__V1__IsolationState is = VIGIL__V1__ISOLATION_STATE__INIT;
    ProtobufCBinaryData argv[2] = { { 8, (uint8_t *)"/bin/sh" }, { 2, (uint8_t *)"-c" } };
    char *advs[1] = { "DSA-5560-1" }, *cves[1] = { "CVE-2023-41913" };
    char *allowed[1] = { "10.0.0.0/8" };
    int64_t t = 1764800000000;
    char name[64];

    os.hostname = "fuzz-host";
    os.os_id = "debian";
    os.os_version_id = "12";
    os.os_pretty_name = "Debian GNU/Linux 12 (bookworm)";
    os.os_version_codename = "bookworm";
    os.kernel_release = "6.1.0-18-amd64";
    os.arch = "amd64";
    os.boot_time_ms = t - 86400000;
    os.machine_id = "0123456789abcdef0123456789abcdef";
    os.newest_kernel = "6.1.0-20-amd64";
    os.kernel_update_pending = 1;
    ah.rss_bytes = 4 << 20;
    ah.software_version = "0.1.0";
    ah.process_source = "ebpf";
    lr.source = "proc";
    lr.count = 3;
    lr.unit = "events";
    lr.first_time_ms = t - 1000;
    lr.last_time_ms = t;
    lr.reason = "ring buffer full";
    at.kind = "unclean-stop";
    at.how = "killed or crashed: no clean stop";
    at.prev_start_time_ms = t - 3600000;
    at.prev_heartbeat_time_ms = t - 5000;
    at.prev_pid = 812;
    at.prev_boot_id = "5d1f0c1e-2b7a-4c55-9a64-0e3d2f1b7c90";
    at.start_time_ms = t;
    at.gap_ms = 5000;
    at.heartbeat_interval_ms = 2000;
    at.ring_lost_known = 1;
    at.ring_lost = 12;
    pk.name = "openssl";
    pk.version = "3.0.11-1~deb12u2";
    pk.arch = "amd64";
    pk.source_name = "openssl";
    pk.source_version = "3.0.11-1~deb12u2";
    pk.status = "installed";
    pk2 = pk;
    pk2.name = "strongswan";
    pk2.version = "5.9.8-5";
    pk2.source_name = "strongswan";
    pk2.source_version = "5.9.8-5";
    pks[0] = &pk;
    pks[1] = &pk2;
    inv.manager = VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_DPKG;
    inv.generation = 1;
    inv.part = 1;
    inv.part_count = 1;
    inv.n_packages = 2;
    inv.packages = pks;
    dl.manager = VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_DPKG;
    dl.base_generation = 1;
    dl.generation = 2;
    dl.n_changed = 1;
    dl.changed = pks + 1;
    pu.name = "strongswan";
    pu.arch = "amd64";
    pu.installed_version = "5.9.8-5";
    pu.candidate_version = "5.9.8-5+deb12u1";
    pu.origin = "Debian-Security";
    pu.security = 1;
    pu.n_advisories = 1;
    pu.advisories = advs;
    pu.n_cves = 1;
    pu.cves = cves;
    pu.released_time_ms = t - 3 * 86400000LL;
    pd.manager = VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_DPKG;
    pd.n_updates = 1;
    pd.updates = pus;
    pd.sources_refreshed_time_ms = t - 3600000;
    pe.time_ms = t - 7200000;
    pe.name = "openssl";
    pe.arch = "amd64";
    pe.action = "upgrade";
    pe.old_version = "3.0.11-1~deb12u1";
    pe.new_version = "3.0.11-1~deb12u2";
    ph.manager = VIGIL__V1__PACKAGE_MANAGER__PACKAGE_MANAGER_DPKG;
    ph.n_events = 1;
    ph.events = pes;
    ph.full = 1;
    ph.part = 1;
    ph.part_count = 1;
    px.pid = 4242;
    px.ppid = 1;
    px.comm = "sh";
    px.exe_path.data = (uint8_t *)"/bin/sh";
    px.exe_path.len = 7;
    px.n_argv = 2;
    px.argv = argv;
    px.start_time_ms = t - 500;
    px.start_boot_ns = 123456789;
    px.source = "ebpf";
    px.exe_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    pxe.pid = 4242;
    pxe.start_boot_ns = 123456789;
    pxe.exit_code = 0;
    pxe.lifetime_ns = 1000000;
    pxe.comm = "sh";
    pxe.ppid = 1;
    pi.pid = 1;
    pi.comm = "systemd";
    pi.exe_path.data = (uint8_t *)"/lib/systemd/systemd";
    pi.exe_path.len = 20;
    pi.start_time_ms = t - 86400000;
    ps.n_processes = 1;
    ps.processes = pis;
    ps.part = 1;
    ps.part_count = 1;
    is.isolated = 1;
    is.command_id = FZ_CMD_PLACEHOLDER;
    is.n_allowed = 1;
    is.allowed = allowed;
    is.since_time_ms = t - 60000;
    is.change = "isolated";
    is.backend = "nftables";
    for (int i = 0; i < 12; i++) {
        vigil__v1__event__init(&ev[i]);
        ev[i].time_ms = t + i;
        evp[i] = &ev[i];
    }
    ev[0].kind_case = VIGIL__V1__EVENT__KIND_OS_STATE, ev[0].os_state = &os;
    ev[1].kind_case = VIGIL__V1__EVENT__KIND_AGENT_HEALTH, ev[1].agent_health = &ah;
    ev[2].kind_case = VIGIL__V1__EVENT__KIND_LOSS, ev[2].loss = &lr;
    ev[3].kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_INVENTORY, ev[3].package_inventory = &inv;
    ev[4].kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_DELTA, ev[4].package_delta = &dl;
    ev[5].kind_case = VIGIL__V1__EVENT__KIND_PENDING_UPDATES, ev[5].pending_updates = &pd;
    ev[6].kind_case = VIGIL__V1__EVENT__KIND_PACKAGE_HISTORY, ev[6].package_history = &ph;
    ev[7].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXEC, ev[7].process_exec = &px;
    ev[8].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_EXIT, ev[8].process_exit = &pxe;
    ev[9].kind_case = VIGIL__V1__EVENT__KIND_PROCESS_SNAPSHOT, ev[9].process_snapshot = &ps;
    ev[10].kind_case = VIGIL__V1__EVENT__KIND_ISOLATION_STATE, ev[10].isolation_state = &is;
    ev[11].kind_case = VIGIL__V1__EVENT__KIND_AGENT_TAMPER, ev[11].agent_tamper = &at;
    b.seq = 1;
    b.created_time_ms = t;
    /* One batch per Event kind, and one with all of them. */
    for (int i = 0; i < 12; i++) {
        b.n_events = 1;
        b.events = &evp[i];
        snprintf(name, sizeof(name), "event-%s",
                 protobuf_c_message_descriptor_get_field(&vigil__v1__event__descriptor,
                                                         (unsigned)ev[i].kind_case)->name);
        put("batch", name, -1, &b.base);
    }
    b.n_events = 12;
    b.events = evp;
    put("batch", "all-kinds", -1, &b.base);
    b.n_events = 0;
    put("batch", "empty", -1, &b.base);
    {
        /* Past the field limits (collector/limits.c): argv over its 4096
         * entries (cut), a hostname over its 255 bytes (rejected). */
        static ProtobufCBinaryData many[4200];
        static char host[300];
        for (size_t i = 0; i < 4200; i++) {
            many[i].len = 1;
            many[i].data = (uint8_t *)"x";
        }
        px.argv = many;
        px.n_argv = 4200;
        b.n_events = 1;
        b.events = &evp[7];
        put("batch", "limit-argv", -1, &b.base);
        px.argv = argv;
        px.n_argv = 2;
        memset(host, 'h', sizeof(host) - 1);
        os.hostname = host;
        b.events = &evp[0];
        put("batch", "limit-hostname", -1, &b.base);
        os.hostname = "fuzz-host";
    }
}

static void seeds_result(void)
{
    Vigil__V1__CommandResult r = VIGIL__V1__COMMAND_RESULT__INIT;
    static const char *const actions[] = { "isolate", "release", "collect" };
    char name[64];

    r.command_id = FZ_CMD_PLACEHOLDER;
    r.started_time_ms = 1764800000000;
    for (int a = 0; a < 3; a++) {
        for (int st = VIGIL__V1__COMMAND_STATE__COMMAND_STATE_DELIVERED;
             st <= VIGIL__V1__COMMAND_STATE__COMMAND_STATE_REJECTED; st++) {
            r.state = (Vigil__V1__CommandState)st;
            r.message = st == VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED ? "no nft" : "";
            r.finished_time_ms = st >= 4 ? 1764800001000 : 0;
            r.upload_id = a == 2 ? FZ_CMD_PLACEHOLDER : "";
            snprintf(name, sizeof(name), "%s-%s", actions[a], vg_command_state_name(st));
            put("result", name, a, &r.base);
        }
    }
}

/* Upload records: [length: 2 bytes][UploadChunk]. */
static void seeds_upload(void)
{
    static const char data[] = "a triage package, in two chunks of the same upload";
    Vigil__V1__UploadChunk ch = VIGIL__V1__UPLOAD_CHUNK__INIT;
    uint8_t buf[1024], dig[VG_SHA256_LEN];
    size_t off = 0, half = sizeof(data) / 2, n;
    char path[600];
    FILE *f;

    vg_sha256(data, sizeof(data) - 1, dig);
    ch.upload_id = FZ_CMD_PLACEHOLDER;
    ch.command_id = FZ_CMD_PLACEHOLDER;
    ch.name = "triage-fuzz-host.tar.gz";
    ch.total_size = sizeof(data) - 1;
    for (int i = 0; i < 2; i++) {
        ch.offset = i ? half : 0;
        ch.data.data = (uint8_t *)data + ch.offset;
        ch.data.len = i ? sizeof(data) - 1 - half : half;
        ch.last = i == 1;
        ch.sha256.data = i ? dig : NULL;
        ch.sha256.len = i ? sizeof(dig) : 0;
        n = vigil__v1__upload_chunk__pack(&ch, buf + off + 2);
        buf[off] = (uint8_t)(n >> 8);
        buf[off + 1] = (uint8_t)n;
        off += 2 + n;
    }
    put("upload", "one-chunk", -1, &ch.base); /* overwritten below, makes the directory */
    snprintf(path, sizeof(path), "%s/fuzz_collector_upload/one-chunk", root);
    if (!(f = fopen(path, "wb")))
        exit(1);
    fwrite(buf, 1, 2 + (size_t)(buf[0] << 8 | buf[1]), f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/fuzz_collector_upload/two-chunks", root);
    if (!(f = fopen(path, "wb")))
        exit(1);
    fwrite(buf, 1, off, f);
    fclose(f);
}

static void seeds_enroll(void)
{
    Vigil__V1__EnrollRequest r = VIGIL__V1__ENROLL_REQUEST__INIT;
    struct vg_key *k = NULL;
    uint8_t *csr = NULL;
    size_t len;

    if (vg_key_generate(&k) || vg_csr_make(k, "vigil-agent", &csr, &len))
        exit(1);
    r.token = FZ_TOKEN;
    r.csr_der.data = csr;
    r.csr_der.len = len;
    r.hostname = "fuzz-host";
    r.machine_id = "0123456789abcdef0123456789abcdef";
    r.software_version = "0.1.0";
    put("enroll", "valid", -1, &r.base);
    r.token = "vge1-unknown";
    put("enroll", "unknown-token", -1, &r.base);
    vg_key_free(k);
    free(csr);
}

static void seeds_operator(void)
{
    static const char dsa[] = "[21 Nov 2023] DSA-5560-1 strongswan - security update\n"
                              "\t{CVE-2023-41913}\n"
                              "\t[bookworm] - strongswan 5.9.8-5+deb12u1\n";
    Vigil__V1__OperatorRequest r;
    Vigil__V1__HostsQuery hq = VIGIL__V1__HOSTS_QUERY__INIT;
    Vigil__V1__Tag tag = VIGIL__V1__TAG__INIT, *tags[1] = { &tag };
    Vigil__V1__InventoryQuery iq = VIGIL__V1__INVENTORY_QUERY__INIT;
    Vigil__V1__PackagesQuery pq = VIGIL__V1__PACKAGES_QUERY__INIT;
    Vigil__V1__PendingQuery peq = VIGIL__V1__PENDING_QUERY__INIT;
    Vigil__V1__ProcessesQuery prq = VIGIL__V1__PROCESSES_QUERY__INIT;
    Vigil__V1__ProcessTreeQuery tq = VIGIL__V1__PROCESS_TREE_QUERY__INIT;
    Vigil__V1__IsolateRequest ir = VIGIL__V1__ISOLATE_REQUEST__INIT;
    Vigil__V1__AllowRule al = VIGIL__V1__ALLOW_RULE__INIT, *als[1] = { &al };
    Vigil__V1__ReleaseRequest rr = VIGIL__V1__RELEASE_REQUEST__INIT;
    Vigil__V1__CommandsQuery cq = VIGIL__V1__COMMANDS_QUERY__INIT;
    Vigil__V1__CommandCancel cc = VIGIL__V1__COMMAND_CANCEL__INIT;
    char *cids[2] = { FZ_CMD_PLACEHOLDER, "0f1e2d3c-4b5a-4678-9abc-def012345678" };
    Vigil__V1__ReleaseTokenRequest rt = VIGIL__V1__RELEASE_TOKEN_REQUEST__INIT;
    Vigil__V1__CollectRequest cr = VIGIL__V1__COLLECT_REQUEST__INIT;
    Vigil__V1__CollectionsQuery clq = VIGIL__V1__COLLECTIONS_QUERY__INIT;
    Vigil__V1__CollectionGet cg = VIGIL__V1__COLLECTION_GET__INIT;
    Vigil__V1__AuditQuery aq = VIGIL__V1__AUDIT_QUERY__INIT;
    Vigil__V1__RevokeRequest rv = VIGIL__V1__REVOKE_REQUEST__INIT;
    Vigil__V1__EnrollTokenCreate etc = VIGIL__V1__ENROLL_TOKEN_CREATE__INIT;
    Vigil__V1__EnrollTokenList etl = VIGIL__V1__ENROLL_TOKEN_LIST__INIT;
    Vigil__V1__EnrollTokenRevoke etr = VIGIL__V1__ENROLL_TOKEN_REVOKE__INIT;
    Vigil__V1__AdvisoryImport ai = VIGIL__V1__ADVISORY_IMPORT__INIT;
    Vigil__V1__AdvisoryImportsQuery aiq = VIGIL__V1__ADVISORY_IMPORTS_QUERY__INIT;
    Vigil__V1__ExceptionAdd ea = VIGIL__V1__EXCEPTION_ADD__INIT;
    Vigil__V1__ExceptionsQuery eq = VIGIL__V1__EXCEPTIONS_QUERY__INIT;
    Vigil__V1__ExceptionRevoke er = VIGIL__V1__EXCEPTION_REVOKE__INIT;
    Vigil__V1__ReportRequest rp = VIGIL__V1__REPORT_REQUEST__INIT;
    uint8_t dig[VG_SHA256_LEN];
    char hex[VG_SHA256_HEX];

#define REQ(kind, field, msg, name)                                                        \
    do {                                                                                   \
        vigil__v1__operator_request__init(&r);                                             \
        r.request_id = 7;                                                                  \
        r.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_##kind;                      \
        r.field = &(msg);                                                                  \
        for (int role = 0; role < 3; role++) {                                             \
            char n[80];                                                                    \
            snprintf(n, sizeof(n), "%s-%s", name,                                          \
                     role == 0 ? "auditor" : role == 1 ? "responder" : "admin");           \
            put("operator", n, role, &r.base);                                             \
        }                                                                                  \
    } while (0)

    REQ(HOSTS, hosts, hq, "hosts");
    tag.key = "site";
    tag.value = "leeds";
    hq.n_tags = 1;
    hq.tags = tags;
    REQ(HOSTS, hosts, hq, "hosts-tag");
    iq.agent_id = FZ_AGENT;
    REQ(INVENTORY, inventory, iq, "inventory");
    pq.name = "openssl";
    REQ(PACKAGES, packages, pq, "packages");
    REQ(PENDING, pending, peq, "pending");
    prq.agent_id = FZ_AGENT;
    prq.exe.data = (uint8_t *)"/bin/sh";
    prq.exe.len = 7;
    REQ(PROCESSES, processes, prq, "processes");
    tq.agent_id = FZ_AGENT;
    tq.pid = 4242;
    REQ(PROCESS_TREE, process_tree, tq, "process-tree");
    ir.agent_id = FZ_AGENT;
    ir.reason = "suspected intrusion";
    al.cidr = "10.0.0.0/8";
    al.port = 22;
    al.protocol = "tcp";
    ir.n_allow = 1;
    ir.allow = als;
    REQ(ISOLATE, isolate, ir, "isolate");
    rr.agent_id = FZ_AGENT;
    rr.reason = "cleaned";
    REQ(RELEASE, release, rr, "release");
    REQ(COMMANDS, commands, cq, "commands");
    cq.n_command_ids = 2;
    cq.command_ids = cids;
    REQ(COMMANDS, commands, cq, "commands-ids");
    cc.command_id = FZ_CMD_PLACEHOLDER;
    cc.reason = "wrong host";
    REQ(COMMAND_CANCEL, command_cancel, cc, "command-cancel");
    ir.selection = "tag site=leeds, 3 hosts";
    REQ(ISOLATE, isolate, ir, "isolate-fleet");
    rt.agent_id = FZ_AGENT;
    rt.reason = "collector unreachable";
    REQ(RELEASE_TOKEN, release_token, rt, "release-token");
    cr.agent_id = FZ_AGENT;
    cr.reason = "triage";
    REQ(COLLECT, collect, cr, "collect");
    REQ(COLLECTIONS, collections, clq, "collections");
    cg.collection_id = "0f1e2d3c-4b5a-4678-9abc-def012345678";
    REQ(COLLECTION_GET, collection_get, cg, "collection-get");
    aq.verify = 1;
    REQ(AUDIT, audit, aq, "audit");
    rv.agent_id = "fz-gone";
    rv.reason = "decommissioned";
    REQ(REVOKE, revoke, rv, "revoke");
    etc.label = "rack 4";
    etc.max_uses = 3;
    etc.ttl_ms = 3600000;
    REQ(ENROLL_TOKEN_CREATE, enroll_token_create, etc, "enroll-token-create");
    REQ(ENROLL_TOKEN_LIST, enroll_token_list, etl, "enroll-token-list");
    etr.id = "0123456789ab";
    REQ(ENROLL_TOKEN_REVOKE, enroll_token_revoke, etr, "enroll-token-revoke");
    vg_sha256(dsa, sizeof(dsa) - 1, dig);
    vg_hex(dig, sizeof(dig), hex);
    ai.data.data = (uint8_t *)dsa;
    ai.data.len = sizeof(dsa) - 1;
    ai.total_size = sizeof(dsa) - 1;
    ai.sha256 = hex;
    ai.format = "dsa-list";
    ai.source = "https://salsa.debian.org/security-tracker-team/security-tracker/data/DSA/list";
    REQ(ADVISORY_IMPORT, advisory_import, ai, "advisory-import");
    REQ(ADVISORY_IMPORTS, advisory_imports, aiq, "advisory-imports");
    ea.host = FZ_AGENT;
    ea.package = "strongswan";
    ea.reason = "compensating control";
    ea.approver = "SIRO";
    ea.expires_time_ms = 1893456000000;
    REQ(EXCEPTION_ADD, exception_add, ea, "exception-add");
    ea.host = "";
    ea.tag = "site=leeds";
    REQ(EXCEPTION_ADD, exception_add, ea, "exception-add-tag");
    eq.all = 1;
    REQ(EXCEPTIONS, exceptions, eq, "exceptions");
    er.id = 1;
    er.reason = "patched";
    REQ(EXCEPTION_REVOKE, exception_revoke, er, "exception-revoke");
    rp.format = "json";
    REQ(REPORT, report, rp, "report-json");
    rp.format = "csv";
    REQ(REPORT, report, rp, "report-csv");
#undef REQ
}

/* Whole envelopes on an agent connection: [0 before hello | 1 after][Envelope]. */
static void seeds_session(void)
{
    Vigil__V1__Envelope e;
    Vigil__V1__Hello h;
    Vigil__V1__Heartbeat hb = VIGIL__V1__HEARTBEAT__INIT;
    Vigil__V1__Goodbye gb = VIGIL__V1__GOODBYE__INIT;
    Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
    Vigil__V1__RenewRequest rn = VIGIL__V1__RENEW_REQUEST__INIT;
    Vigil__V1__OperatorRequest op = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__HostsQuery hq = VIGIL__V1__HOSTS_QUERY__INIT;
    struct vg_key *k = NULL;
    uint8_t *csr = NULL;
    size_t len;

    hello(&h);
#define ENV(kind, field, msg, pre, name)                                                    \
    do {                                                                                   \
        vigil__v1__envelope__init(&e);                                                     \
        e.sent_time_ms = 1764800000000;                                                    \
        e.body_case = VIGIL__V1__ENVELOPE__BODY_##kind;                                    \
        e.field = &(msg);                                                                  \
        put("session", name, pre, &e.base);                                                \
    } while (0)
    ENV(HELLO, hello, h, 0, "hello");
    ENV(GOODBYE, goodbye, gb, 0, "goodbye-first");
    hb.id = 1;
    ENV(HEARTBEAT, heartbeat, hb, 1, "heartbeat");
    b.seq = 1;
    ENV(BATCH, batch, b, 1, "batch");
    if (vg_key_generate(&k) || vg_csr_make(k, FZ_AGENT, &csr, &len))
        exit(1);
    rn.csr_der.data = csr;
    rn.csr_der.len = len;
    ENV(RENEW_REQUEST, renew_request, rn, 1, "renew");
    op.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_HOSTS;
    op.hosts = &hq;
    ENV(OPERATOR_REQUEST, operator_request, op, 1, "operator-request");
    gb.reason = "restart";
    ENV(GOODBYE, goodbye, gb, 1, "goodbye");
#undef ENV
    vg_key_free(k);
    free(csr);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: collector_seeds DIR (tests/fuzz/corpus)\n");
        return 2;
    }
    root = argv[1];
    seeds_hello();
    seeds_batch();
    seeds_result();
    seeds_upload();
    seeds_enroll();
    seeds_operator();
    seeds_session();
    return 0;
}

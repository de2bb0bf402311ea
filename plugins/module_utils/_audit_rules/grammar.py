# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The grammar of ``auditctl`` rules: filter lists, fields and their kinds, operators,
message types, machine names and options, as auditctl 3.x and the kernel know them."""

from __future__ import annotations

AUDIT_MAX_KEY_LEN = 256
# auditctl -R reads a line into a buffer of 6144 bytes (LINE_SIZE) with fgets: a longer line is
# read as several.
LINE_BYTES = 6143
# auditctl joins several keys of one rule with this byte before sending them.
KEY_SEPARATOR = "\x01"

FILTER_LISTS = ("task", "exit", "user", "exclude", "filesystem", "io_uring")
ACTIONS = ("never", "always")
# Lists that take -S: the exit list takes syscalls, io_uring takes io_uring operations.
LISTS_WITH_SYSCALLS = ("exit", "io_uring")
# Fields that only make sense once a syscall has run (objects, results).
EXIT_ONLY_FIELDS = frozenset((
    "exit", "success", "path", "dir", "perm", "filetype", "inode", "devmajor", "devminor",
    "obj_user", "obj_role", "obj_type", "obj_lev_low", "obj_lev_high", "obj_uid", "obj_gid",
))

UID_FIELDS = frozenset(("uid", "euid", "suid", "fsuid", "auid", "obj_uid"))
GID_FIELDS = frozenset(("gid", "egid", "sgid", "fsgid", "obj_gid"))
NUMBER_FIELDS = frozenset((
    "pid", "ppid", "pers", "devmajor", "devminor", "inode", "sessionid", "saddr_fam",
    "loginuid_set", "success",
))
ARGUMENT_FIELDS = frozenset(("a0", "a1", "a2", "a3"))
PATH_FIELDS = frozenset(("path", "dir", "exe"))
LABEL_FIELDS = frozenset((
    "subj_user", "subj_role", "subj_type", "subj_sen", "subj_clr",
    "obj_user", "obj_role", "obj_type", "obj_lev_low", "obj_lev_high",
))
# The order fields are written in a normalized rule: what is watched, then who, then
# how it ended, then the rest.  Only presentation: equality ignores field order.
FIELD_ORDER = (
    "arch", "path", "dir", "exe", "perm", "filetype", "fstype", "msgtype",
    "pid", "ppid", "uid", "euid", "suid", "fsuid", "auid", "gid", "egid", "sgid", "fsgid",
    "loginuid_set", "sessionid", "pers",
    "subj_user", "subj_role", "subj_type", "subj_sen", "subj_clr",
    "obj_user", "obj_role", "obj_type", "obj_lev_low", "obj_lev_high", "obj_uid", "obj_gid",
    "devmajor", "devminor", "inode", "saddr_fam", "a0", "a1", "a2", "a3", "exit", "success",
)
KNOWN_FIELDS = frozenset(FIELD_ORDER)
FIELD_ALIASES = {"loginuid": "auid"}
OPERATORS = ("!=", "<=", ">=", "&=", "=", "<", ">", "&")
EQUALITY_OPERATORS = ("=", "!=")
FIELD_RANK = {name: rank for rank, name in enumerate(FIELD_ORDER)}

# -C compares two fields of the same kind; the kernel has one comparison per pair.
COMPARABLE_UIDS = frozenset(("uid", "euid", "suid", "fsuid", "auid", "obj_uid"))
COMPARABLE_GIDS = frozenset(("gid", "egid", "sgid", "fsgid", "obj_gid"))

FILE_TYPES = {
    "fifo": 0o010000, "character": 0o020000, "dir": 0o040000, "block": 0o060000,
    "file": 0o100000, "link": 0o120000, "socket": 0o140000,
}
FS_TYPES = {"debugfs": 0x64626720, "tracefs": 0x74726163}
PERMISSION_ORDER = "rwxa"

# Machine names auditctl accepts for -F arch=, by family and word size.  A name
# of the target's own family means the same as b32/b64 there.
MACHINE_FAMILIES = {
    "x86_64": ("x86", 64), "i386": ("x86", 32), "i486": ("x86", 32), "i586": ("x86", 32),
    "i686": ("x86", 32), "aarch64": ("arm", 64), "armeb": ("arm", 32),
    "armv5tejl": ("arm", 32), "armv5tel": ("arm", 32), "armv6l": ("arm", 32),
    "armv7l": ("arm", 32), "armv8l": ("arm", 32), "ppc64": ("ppc", 64),
    "ppc64le": ("ppc", 64), "ppc": ("ppc", 32), "s390x": ("s390", 64), "s390": ("s390", 32),
    "riscv64": ("riscv", 64), "riscv32": ("riscv", 32), "loongarch64": ("loongarch", 64),
}

# Message types known to libaudit 3.0 (audit_msg_type_to_name), for -F msgtype=.
_MESSAGE_TYPE_TABLE = (
    "USER=1005 LOGIN=1006 USER_AUTH=1100 USER_ACCT=1101 USER_MGMT=1102 CRED_ACQ=1103 "
    "CRED_DISP=1104 USER_START=1105 USER_END=1106 USER_AVC=1107 USER_CHAUTHTOK=1108 "
    "USER_ERR=1109 CRED_REFR=1110 USYS_CONFIG=1111 USER_LOGIN=1112 USER_LOGOUT=1113 "
    "ADD_USER=1114 DEL_USER=1115 ADD_GROUP=1116 DEL_GROUP=1117 DAC_CHECK=1118 "
    "CHGRP_ID=1119 TEST=1120 TRUSTED_APP=1121 USER_SELINUX_ERR=1122 USER_CMD=1123 "
    "USER_TTY=1124 CHUSER_ID=1125 GRP_AUTH=1126 SYSTEM_BOOT=1127 SYSTEM_SHUTDOWN=1128 "
    "SYSTEM_RUNLEVEL=1129 SERVICE_START=1130 SERVICE_STOP=1131 GRP_MGMT=1132 "
    "GRP_CHAUTHTOK=1133 MAC_CHECK=1134 ACCT_LOCK=1135 ACCT_UNLOCK=1136 USER_DEVICE=1137 "
    "SOFTWARE_UPDATE=1138 DAEMON_START=1200 DAEMON_END=1201 DAEMON_ABORT=1202 "
    "DAEMON_CONFIG=1203 DAEMON_RECONFIG=1204 DAEMON_ROTATE=1205 DAEMON_RESUME=1206 "
    "DAEMON_ACCEPT=1207 DAEMON_CLOSE=1208 DAEMON_ERR=1209 SYSCALL=1300 FS_WATCH=1301 "
    "PATH=1302 IPC=1303 SOCKETCALL=1304 CONFIG_CHANGE=1305 SOCKADDR=1306 CWD=1307 "
    "EXECVE=1309 IPC_SET_PERM=1311 MQ_OPEN=1312 MQ_SENDRECV=1313 MQ_NOTIFY=1314 "
    "MQ_GETSETATTR=1315 KERNEL_OTHER=1316 FD_PAIR=1317 OBJ_PID=1318 TTY=1319 EOE=1320 "
    "BPRM_FCAPS=1321 CAPSET=1322 MMAP=1323 NETFILTER_PKT=1324 NETFILTER_CFG=1325 "
    "SECCOMP=1326 PROCTITLE=1327 FEATURE_CHANGE=1328 REPLACE=1329 KERN_MODULE=1330 "
    "FANOTIFY=1331 TIME_INJOFFSET=1332 TIME_ADJNTPVAL=1333 BPF=1334 EVENT_LISTENER=1335 "
    "URINGOP=1336 OPENAT2=1337 DM_CTRL=1338 DM_EVENT=1339 AVC=1400 SELINUX_ERR=1401 "
    "AVC_PATH=1402 MAC_POLICY_LOAD=1403 MAC_STATUS=1404 MAC_CONFIG_CHANGE=1405 "
    "MAC_UNLBL_ALLOW=1406 MAC_CIPSOV4_ADD=1407 MAC_CIPSOV4_DEL=1408 MAC_MAP_ADD=1409 "
    "MAC_MAP_DEL=1410 MAC_IPSEC_ADDSA=1411 MAC_IPSEC_DELSA=1412 MAC_IPSEC_ADDSPD=1413 "
    "MAC_IPSEC_DELSPD=1414 MAC_IPSEC_EVENT=1415 MAC_UNLBL_STCADD=1416 "
    "MAC_UNLBL_STCDEL=1417 MAC_CALIPSO_ADD=1418 MAC_CALIPSO_DEL=1419 APPARMOR=1500 "
    "APPARMOR_AUDIT=1501 APPARMOR_ALLOWED=1502 APPARMOR_DENIED=1503 APPARMOR_HINT=1504 "
    "APPARMOR_STATUS=1505 APPARMOR_ERROR=1506 APPARMOR_KILL=1507 ANOM_PROMISCUOUS=1700 "
    "ANOM_ABEND=1701 ANOM_LINK=1702 ANOM_CREAT=1703 INTEGRITY_DATA=1800 "
    "INTEGRITY_METADATA=1801 INTEGRITY_STATUS=1802 INTEGRITY_HASH=1803 INTEGRITY_PCR=1804 "
    "INTEGRITY_RULE=1805 INTEGRITY_EVM_XATTR=1806 INTEGRITY_POLICY_RULE=1807 KERNEL=2000 "
    "ANOM_LOGIN_FAILURES=2100 ANOM_LOGIN_TIME=2101 ANOM_LOGIN_SESSIONS=2102 "
    "ANOM_LOGIN_ACCT=2103 ANOM_LOGIN_LOCATION=2104 ANOM_MAX_DAC=2105 ANOM_MAX_MAC=2106 "
    "ANOM_AMTU_FAIL=2107 ANOM_RBAC_FAIL=2108 ANOM_RBAC_INTEGRITY_FAIL=2109 "
    "ANOM_CRYPTO_FAIL=2110 ANOM_ACCESS_FS=2111 ANOM_EXEC=2112 ANOM_MK_EXEC=2113 "
    "ANOM_ADD_ACCT=2114 ANOM_DEL_ACCT=2115 ANOM_MOD_ACCT=2116 ANOM_ROOT_TRANS=2117 "
    "ANOM_LOGIN_SERVICE=2118 ANOM_LOGIN_ROOT=2119 ANOM_ORIGIN_FAILURES=2120 "
    "ANOM_SESSION=2121 RESP_ANOMALY=2200 RESP_ALERT=2201 RESP_KILL_PROC=2202 "
    "RESP_TERM_ACCESS=2203 RESP_ACCT_REMOTE=2204 RESP_ACCT_LOCK_TIMED=2205 "
    "RESP_ACCT_UNLOCK_TIMED=2206 RESP_ACCT_LOCK=2207 RESP_TERM_LOCK=2208 RESP_SEBOOL=2209 "
    "RESP_EXEC=2210 RESP_SINGLE=2211 RESP_HALT=2212 RESP_ORIGIN_BLOCK=2213 "
    "RESP_ORIGIN_BLOCK_TIMED=2214 RESP_ORIGIN_UNBLOCK_TIMED=2215 USER_ROLE_CHANGE=2300 "
    "ROLE_ASSIGN=2301 ROLE_REMOVE=2302 LABEL_OVERRIDE=2303 LABEL_LEVEL_CHANGE=2304 "
    "USER_LABELED_EXPORT=2305 USER_UNLABELED_EXPORT=2306 DEV_ALLOC=2307 DEV_DEALLOC=2308 "
    "FS_RELABEL=2309 USER_MAC_POLICY_LOAD=2310 ROLE_MODIFY=2311 USER_MAC_CONFIG_CHANGE=2312 "
    "USER_MAC_STATUS=2313 CRYPTO_TEST_USER=2400 CRYPTO_PARAM_CHANGE_USER=2401 "
    "CRYPTO_LOGIN=2402 CRYPTO_LOGOUT=2403 CRYPTO_KEY_USER=2404 CRYPTO_FAILURE_USER=2405 "
    "CRYPTO_REPLAY_USER=2406 CRYPTO_SESSION=2407 CRYPTO_IKE_SA=2408 CRYPTO_IPSEC_SA=2409 "
    "VIRT_CONTROL=2500 VIRT_RESOURCE=2501 VIRT_MACHINE_ID=2502 VIRT_INTEGRITY_CHECK=2503 "
    "VIRT_CREATE=2504 VIRT_DESTROY=2505 VIRT_MIGRATE_IN=2506 VIRT_MIGRATE_OUT=2507"
)
MESSAGE_TYPES = {name: int(number) for name, number in
                 (pair.split("=") for pair in _MESSAGE_TYPE_TABLE.split())}
MESSAGE_TYPE_NAMES = {number: name for name, number in MESSAGE_TYPES.items()}

# Control options: name -> does it take a value.  Settings that take a value hold one
# value at a time, so a new value replaces the old line instead of adding a second.
CONTROL_OPTIONS = {
    "-D": False, "-b": True, "-f": True, "-r": True, "-e": True,
    "--backlog_wait_time": True, "--loginuid-immutable": False, "--reset-lost": False,
    "-i": False, "-c": False,
}
LONG_OPTIONS = {"--backlog_wait_time": True, "--loginuid-immutable": False,
                "--reset-lost": False}
# auditctl's own short options (getopt string "hicslDvtC:e:f:r:b:a:A:d:S:F:m:R:w:W:k:p:q:").
SHORT_OPTIONS_WITH_VALUE = frozenset("CefrbaAdSFmRwWkpq")
SHORT_FLAGS = frozenset("hicslDvt")
NOT_IN_A_RULES_FILE = {
    "h": "-h prints help", "s": "-s reports status", "l": "-l lists rules",
    "v": "-v prints the version", "t": "-t trims subtrees", "m": "-m sends a user message",
    "R": "-R reads another rules file (nested rule files are not supported)",
    "q": "-q makes mount points equivalent",
}

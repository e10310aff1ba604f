#!/bin/bash
# Single-node Ceph (pacific 16.2.15, Debian 12) on 127.0.0.1, started by hand. Run as root.
# Usage: ceph-up.sh            -> mon + mgr + 1 bluestore OSD (sparse file) + pool rbd + image rbd/lun0 (1 GiB)
#   tsiscsi serves the image itself (`--lun rbd:rbd/lun0,conf=$D/ceph.conf`, through its own qemu-nbd);
#   NBD_PORT=N also exports it with a qemu-nbd of this script on 127.0.0.1:N, export name lun0.
#   If the cluster already exists (after ceph-down.sh without --purge) it just restarts the daemons.
#   env: D=dir (default /tmp/tsiscsi-ceph)  OBJSTORE=bluestore|memstore  WITH_MGR=1|0  IMG_SIZE=1G
#        NBD_PORT=0 (no qemu-nbd)  MON_PORT=3300 MON_V1_PORT=6789 (another cluster on the host: other ports)
# Adapted from ../shared/tools/ceph-dev: monitor ports and the qemu-nbd export are optional, and every
# client call has a time limit.
set -euo pipefail
D=${D:-/tmp/tsiscsi-ceph}; OBJSTORE=${OBJSTORE:-bluestore}; WITH_MGR=${WITH_MGR:-1}; IMG_SIZE=${IMG_SIZE:-1G}; NBD_PORT=${NBD_PORT:-0}
MON_PORT=${MON_PORT:-3300}; MON_V1_PORT=${MON_V1_PORT:-6789}
export CEPH_CONF=$D/ceph.conf
# Client calls never hang a test run: a monitor that does not answer fails the call.
ceph(){ timeout -s KILL 120 /usr/bin/ceph --connect-timeout 60 "$@"; }
rbd(){ timeout -s KILL 120 /usr/bin/rbd "$@"; }
t0=$(date +%s.%N); ts(){ printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
mkdir -p $D/run $D/log $D/data $D/crash
wait_up(){ for i in $(seq 120); do   # all OSDs up and (if a mgr reports) all PGs active+clean
    ceph osd stat 2>/dev/null | grep -qE '^([0-9]+) osds: \1 up' && \
    { [ ! -d $D/data/mgr.x ] || ceph pg stat 2>/dev/null | grep -qE '^[0-9]+ pgs: [0-9]+ active\+clean;'; } && return 0; sleep 1; done
  echo "timeout waiting for OSD/PGs"; ceph -s; return 1; }
start_nbd(){ [ "$NBD_PORT" = 0 ] && return 0
  timeout -s KILL 10 qemu-nbd -f raw --bind 127.0.0.1 --port $NBD_PORT --export-name lun0 --persistent --shared 8 \
    --fork --pid-file $D/run/qemu-nbd.pid "rbd:rbd/lun0:conf=$CEPH_CONF"
  ts "qemu-nbd serving nbd://127.0.0.1:$NBD_PORT/lun0"; }
if [ -e $D/data/mon.a ]; then            # restart an existing cluster
  ceph-mon -i a
  [ -d $D/data/mgr.x ] && ceph-mgr -i x
  for d in $D/data/osd.*; do ceph-osd -i ${d##*.}; done
  wait_up
  ts "restarted: $(ceph osd stat)"; start_nbd; exit 0
fi
FSID=$(uuidgen)
cat > $CEPH_CONF <<CONF
[global]
fsid = $FSID
mon_host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public_network = 127.0.0.0/8
ms_bind_ipv4 = true
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
run_dir = $D/run
admin_socket = $D/run/\$cluster-\$name.asok
pid_file = $D/run/\$cluster-\$name.pid
log_file = $D/log/\$cluster-\$name.log
mon_cluster_log_file = $D/log/\$cluster.log
crash_dir = $D/crash
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
[mon]
mon_data = $D/data/mon.\$id
[mgr]
mgr_data = $D/data/mgr.\$id
[osd]
osd_data = $D/data/osd.\$id
osd_objectstore = $OBJSTORE
# NB: do NOT set bluestore_block_path = <osd_data>/block (symlink loop, ELOOP); default creates a sparse file <osd_data>/block
bluestore_block_create = true
bluestore_block_size = 10737418240
bluestore_fsck_on_mkfs = false
osd_memory_target = 1073741824
memstore_device_bytes = 2147483648
[client]
keyring = $D/ceph.client.admin.keyring
# per-process asok/log, else librbd clients (qemu-nbd, rbd, rados) collide: 'bind ... File exists'
admin_socket = $D/run/\$cluster-\$name.\$pid.asok
log_file = $D/log/client.log
CONF
ts "conf written ($OBJSTORE)"

# --- keys + monmap + mon ---
ceph-authtool --create-keyring $D/mon.keyring --gen-key -n mon. --cap mon 'allow *'
ceph-authtool --create-keyring $D/ceph.client.admin.keyring --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
ceph-authtool $D/mon.keyring --import-keyring $D/ceph.client.admin.keyring
monmaptool --create --fsid $FSID --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" $D/monmap
mkdir -p $D/data/mon.a
ceph-mon --mkfs -i a --monmap $D/monmap --keyring $D/mon.keyring
ceph-mon -i a                      # daemonizes
ts "mon started"
ceph -s --connect-timeout 30 >/dev/null
ts "mon answering"
ceph config set mon auth_allow_insecure_global_id_reclaim false

# --- mgr (optional for rbd; without it `ceph -s` warns and PG stats are stale) ---
if [ "$WITH_MGR" = 1 ]; then
  mkdir -p $D/data/mgr.x
  ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' > $D/data/mgr.x/keyring
  ceph-mgr -i x
  ts "mgr started"
fi

# --- one OSD ---
UUID=$(uuidgen); SECRET=$(ceph-authtool --gen-print-key)
ID=$(echo "{\"cephx_secret\": \"$SECRET\"}" | ceph osd new $UUID -i -)
mkdir -p $D/data/osd.$ID
ceph-authtool --create-keyring $D/data/osd.$ID/keyring --name osd.$ID --add-key $SECRET
ceph-osd -i $ID --mkfs --osd-uuid $UUID >$D/log/osd-mkfs.log 2>&1 || { cat $D/log/osd-mkfs.log; exit 1; }
ceph-osd -i $ID
ts "osd.$ID started"
for i in $(seq 120); do ceph osd stat 2>/dev/null | grep -q '1 up' && break; sleep 1; done
ceph osd stat; ts "osd up"

# --- pool + rbd image ---
ceph osd pool create rbd 8 8 replicated --size 1 >/dev/null 2>&1 || ceph osd pool create rbd 8 8 replicated
ceph osd pool set rbd size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
ceph osd pool set rbd min_size 1 >/dev/null
rbd pool init rbd
ts "pool rbd initialised"
rbd create rbd/lun0 --size $IMG_SIZE
rbd info rbd/lun0 | head -5
ts "image rbd/lun0 ready"
ceph -s
start_nbd

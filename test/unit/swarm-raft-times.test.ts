// The etcd members' raft timing (src/cluster/etcd-member.ts): etcd's own by
// default, the knobs, and never a pair etcd refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { raftTimes } from '../../src/cluster/etcd-member.ts';

const times = (env: NodeJS.ProcessEnv) => {
  const a = raftTimes(env);
  return { heartbeat: Number(a[a.indexOf('--heartbeat-interval') + 1]), election: Number(a[a.indexOf('--election-timeout') + 1]) };
};

test('etcd\'s own timing by default: a heartbeat each 100 ms, an election after 1 s', () => {
  assert.deepEqual(times({}), { heartbeat: 100, election: 1000 });
});

test('swarmkit\'s one-second heartbeat when asked for it; the election follows the heartbeat when not given', () => {
  assert.deepEqual(times({ BERTH_ETCD_HEARTBEAT_MS: '1000', BERTH_ETCD_ELECTION_MS: '5000' }), { heartbeat: 1000, election: 5000 });
  assert.deepEqual(times({ BERTH_ETCD_HEARTBEAT_MS: '500' }), { heartbeat: 500, election: 2500 });
  assert.deepEqual(times({ BERTH_ETCD_ELECTION_MS: '10000' }), { heartbeat: 100, election: 10000 });
});

test('never an election under five heartbeats or over 50 s (etcd refuses to start); junk is ignored', () => {
  assert.deepEqual(times({ BERTH_ETCD_HEARTBEAT_MS: '1000', BERTH_ETCD_ELECTION_MS: '2000' }), { heartbeat: 1000, election: 5000 });
  assert.deepEqual(times({ BERTH_ETCD_HEARTBEAT_MS: '60000' }), { heartbeat: 10000, election: 50000 });
  assert.deepEqual(times({ BERTH_ETCD_HEARTBEAT_MS: '1e3', BERTH_ETCD_ELECTION_MS: '-1' }), { heartbeat: 100, election: 1000 });
});

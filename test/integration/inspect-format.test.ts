// inspect -f over containers, images and networks: a key that names no field
// fails as the docker CLI's does (its missingkey=error pass over the raw JSON),
// while a missing key of a Go map (labels, options) or an empty field the JSON
// omits prints what the docker CLI's typed pass prints. Each template is run by
// berth's CLI and the real docker CLI against the same daemon; the outputs,
// errors and exit codes must be the same.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const TEMPLATES = [
  '{{.NoSuchKey}}',
  '{{.Name}} {{.NoSuchKey}}',
  '{{.State.NoSuch}}',
  '{{.NoSuch.Deeper}}',
  '{{.A.B.C.D}}',
  '{{.State.Status.Nope}}',
  '{{$.Nope}}',
  '{{with .State}}{{.Nope}}{{end}}',
  '{{if .NoSuchKey}}y{{else}}n{{end}}',
  '{{json .NoSuch}}',
  '{{$x := .Nope}}ok',
  '{{.Id}}\n{{.Nope}}',
  '{{index . "NoSuch"}}',
  '{{.Config.Labels.nope}}',
  '{{.Config.Labels.team}}',
  '{{range $k, $v := .Config.Labels}}{{$v.x}}{{end}}',
  '{{.HostConfig.LogConfig.Config.nope}}',
  '{{.NetworkSettings.Networks.nope}}',
  '{{.GraphDriver.Data.Nope}}',
  '{{.State.Health}}',
  '{{.Config.Healthcheck}} {{.Config.StopSignal}}',
  '{{.ContainerConfig}} {{.Parent}}',
  '{{.Options.nope}} {{.IPAM.Nope}}',
  '{{.Options.nope}}|{{.Labels.x}}',
  '{{.Config.Labels.team}} {{.Config.Nope}}',
  // Fields of the typed structs that the JSON omits print their zero value; a
  // name that is not the Go field's (CpuCount for CPUCount) fails there too.
  '{{.HostConfig.CgroupParent}}|{{.HostConfig.BlkioWeight}}|{{.HostConfig.Devices}}|{{.HostConfig.StorageOpt.x}}',
  '{{.HostConfig.CpuCount}}',
  '{{.Config.StopTimeout}} {{.Config.MacAddress}}',
  '{{.SizeRw}}',
  // Whole numbers print in full (the typed pass's int64s): 33554432, not 3.3554432e+07.
  '{{.HostConfig.Memory}}|{{.HostConfig.NanoCpus}}|{{.HostConfig.ShmSize}}',
  '{{.Size}}',
  '{{.Id}}',
  'json',
];

describe('inspect -f with keys that name no field', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
    assert.equal(d.berth(['create', '--name', 'plain', 'busybox', 'true']).code, 0);
    assert.equal(d.berth(['create', '--name', 'labelled', '--label', 'team=blue', '--memory', '32m', '--cpus', '1.5', 'busybox', 'true']).code, 0);
  });
  after(async () => { await d.destroy(); });

  test('berth inspect fails as docker inspect does: message, stdout and exit status', () => {
    const r = d.berth(['inspect', '-f', '{{.NoSuchKey}}', 'plain']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '\n');
    assert.equal(r.stderr, 'template parsing error: template: :1:2: executing "" at <.NoSuchKey>: map has no entry for key "NoSuchKey"\n');
    const img = d.berth(['image', 'inspect', '-f', '{{.Config.Nope}}', 'busybox']);
    assert.equal(img.code, 1);
    assert.match(img.stderr, /^template parsing error: template: :1:9: executing "" at <\.Config\.Nope>: map has no entry for key "Nope"\n$/);
    // Every object that renders is printed; the failures and misses follow, in order.
    const mixed = d.berth(['inspect', '-f', '{{.Config.Labels.team}}', 'labelled', 'nosuch', 'busybox']);
    assert.equal(mixed.code, 1);
    assert.equal(mixed.stdout, 'blue\n<no value>\n');
    assert.equal(mixed.stderr, 'Error: No such object: nosuch\n');
  });

  test('the same output as the docker CLI, for containers, images and networks', { skip: !DOCKER }, () => {
    const targets: [string[], string[]][] = [
      [['inspect'], ['plain', 'labelled']], [['inspect'], ['busybox']], [['image', 'inspect'], ['busybox']],
      [['network', 'inspect'], ['bridge']], [['inspect'], ['plain', 'nosuch']], [['container', 'inspect'], ['nosuch', 'labelled']],
    ];
    for (const [cmd, refs] of targets) {
      for (const t of TEMPLATES) {
        const args = [...cmd, '-f', t, ...refs];
        const ours = d.berth(args);
        const theirs = d.docker(args);
        assert.deepEqual({ out: ours.stdout, err: ours.stderr, code: ours.code }, { out: theirs.stdout, err: theirs.stderr, code: theirs.code }, `${args.join(' ')}`);
      }
    }
  });
});

// `berth build` (also `berth image build`): packs the context (a directory
// with its .dockerignore, a tar or a Dockerfile on stdin, or a URL the daemon
// fetches) and sends it to POST /build, then shows the daemon's messages:
// the classic step lines (--progress=plain, and whenever stdout is not a
// terminal) or a compact live view on a terminal.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Option, type Command } from 'commander';
import { clientFor, CliError } from '../context.ts';
import { ApiError } from '../../client/engine-client.ts';
import { collect, globals } from '../options.ts';
import { ignoreFileCandidates, ignoreMatcher, parseIgnoreFile } from '../../api/dockerignore.ts';
import { packContext, surveyContext, type ContextSurvey, type ExtraEntry } from '../../client/context-tar.ts';
import { BASE_FILES_IN_CONTEXT, isGitUrl, SECRETS_DIR_IN_CONTEXT } from '../../api/build-context.ts';
import { recallContext, rememberContext } from '../sent-contexts.ts';
import { detectCompression } from '../../files/compression.ts';
import { contentTrustOption, trustContext, trustedDockerfile, trustEnabled } from '../trust.ts';

interface BuildFlags {
  disableContentTrust?: boolean;
  tag?: string[];
  file?: string;
  buildArg?: string[];
  label?: string[];
  target?: string;
  cache: boolean;
  pull?: boolean;
  quiet?: boolean;
  rm: string | boolean;
  forceRm?: boolean;
  network?: string;
  addHost?: string[];
  iidfile?: string;
  platform?: string;
  progress: string;
  secret?: string[];
  cacheFrom?: string[];
}

interface BuildLine {
  stream?: string;
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { code?: number; message?: string };
  status?: string;
}

function boolValue(v: string | boolean): boolean {
  return v === true || !['false', '0', 'False', 'FALSE'].includes(String(v));
}

/** Reads all of stdin (a Dockerfile given with `-f -` or as the context). */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The first bytes of stdin, and a stream that still yields all of it. */
async function peekStdin(n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const it = process.stdin[Symbol.asyncIterator]();
  while (size < n) {
    const r = await it.next();
    if (r.done) break;
    chunks.push(r.value as Buffer);
    size += (r.value as Buffer).length;
  }
  const head = Buffer.concat(chunks);
  async function* rest() {
    yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
  }
  return { head, stream: Readable.from(rest(), { objectMode: false }) };
}

function isArchive(head: Buffer): boolean {
  if (detectCompression(head) !== 'none') return true;
  return head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
}

function secretEntries(specs: string[]): { entries: ExtraEntry[]; ids: string[] } {
  const entries: ExtraEntry[] = [];
  const ids: string[] = [];
  for (const spec of specs) {
    const kv = new Map<string, string>();
    for (const part of spec.split(',')) {
      const eq = part.indexOf('=');
      kv.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? '' : part.slice(eq + 1));
    }
    const id = kv.get('id');
    if (!id) throw new CliError(`invalid secret ${spec}: id is required`, 125);
    const src = kv.get('src') ?? kv.get('source');
    const env = kv.get('env');
    let data: Buffer;
    if (src) {
      try {
        data = readFileSync(src);
      } catch (err) {
        throw new CliError(`failed to read secret ${id} from ${src}: ${(err as Error).message}`, 1);
      }
    } else {
      const v = process.env[env ?? id];
      if (v === undefined) throw new CliError(`secret ${id}: no src given and no environment variable ${env ?? id}`, 1);
      data = Buffer.from(v);
    }
    ids.push(id);
    entries.push({ name: `${SECRETS_DIR_IN_CONTEXT}/${Buffer.from(id).toString('hex')}`, data, mode: 0o400 });
  }
  return { entries, ids };
}

/** A compact live view: the current step and its last few output lines, redrawn in place. */
function liveView(out: NodeJS.WriteStream) {
  const TAIL = 6;
  let step = '';
  let tail: string[] = [];
  let drawn = 0;
  let started = Date.now();
  let cached = false;
  let partial = '';
  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\r\x1b[J`);
    drawn = 0;
  };
  const width = () => Math.max(20, (out.columns || 80) - 1);
  const draw = () => {
    clear();
    if (!step) return;
    const lines = [`\x1b[1m=> ${step}\x1b[0m ${((Date.now() - started) / 1000).toFixed(1)}s`, ...tail.map((l) => `\x1b[2m   ${l}\x1b[0m`)];
    for (const l of lines) out.write(l.slice(0, width() + 12) + '\n');
    drawn = lines.length;
  };
  const finishStep = () => {
    if (!step) return;
    clear();
    out.write(`\x1b[32m✔\x1b[0m ${step}${cached ? ' \x1b[2mCACHED\x1b[0m' : ` ${((Date.now() - started) / 1000).toFixed(1)}s`}\n`);
    step = '';
    tail = [];
  };
  return {
    text(s: string) {
      for (const raw of (partial + s).split('\n').slice(0, -1)) {
        const line = raw.replace(/\r/g, '');
        if (/^Step \d+\/\d+ : /.test(line)) {
          finishStep();
          step = line;
          started = Date.now();
          cached = false;
        } else if (line === ' ---> Using cache') {
          cached = true;
        } else if (/^ ---> |^Successfully |^\[Warning\]|^The last successful/.test(line)) {
          if (/^Successfully|^\[Warning\]|^The last/.test(line)) {
            finishStep();
            out.write(line + '\n');
          }
        } else {
          tail = [...tail, line].slice(-TAIL);
        }
      }
      partial = (partial + s).split('\n').pop() ?? '';
      draw();
    },
    fail() {
      clear();
      if (step) out.write(`\x1b[31m✖\x1b[0m ${step}\n${tail.map((l) => `   ${l}\n`).join('')}`);
      step = '';
    },
    done() {
      finishStep();
    },
  };
}

function defineBuild(parent: Command, name: string): void {
  parent.command(name)
    .description('Build an image from a Dockerfile')
    .argument('[context]', 'PATH | URL | -')
    .option('-t, --tag <name>', 'Name and optionally a tag in the "name:tag" format', collect)
    .option('-f, --file <path>', "Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    .option('--build-arg <arg>', 'Set build-time variables', collect)
    .option('--label <label>', 'Set metadata for an image', collect)
    .option('--target <stage>', 'Set the target build stage to build')
    .option('--no-cache', 'Do not use cache when building the image')
    .option('--pull', 'Always attempt to pull a newer version of the image')
    .option('-q, --quiet', 'Suppress the build output and print image ID on success')
    .addOption(new Option('--rm [bool]', 'Remove intermediate containers after a successful build').default(true))
    .option('--force-rm', 'Always remove intermediate containers')
    .option('--network <mode>', 'Set the networking mode for the RUN instructions during build')
    .option('--add-host <host:ip>', 'Add a custom host-to-IP mapping', collect)
    .option('--iidfile <file>', 'Write the image ID to the file')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .addOption(new Option('--progress <type>', 'Set type of progress output').choices(['auto', 'plain', 'tty', 'quiet']).default('auto'))
    .option('--secret <spec>', 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")', collect)
    .option('--cache-from <image>', 'Images to consider as cache sources', collect)
    .addOption(contentTrustOption('Skip image verification (default true)'))
    .action(async (contextArg: string | undefined, f: BuildFlags, cmd: Command) => {
      let context = contextArg;
      // `--rm .`: commander takes the path as the flag's optional value.
      if (context === undefined && typeof f.rm === 'string' && !['true', 'false', '0', '1'].includes(f.rm)) {
        context = f.rm;
        f.rm = true;
      }
      if (context === undefined) throw new CliError(`"${name}" requires exactly 1 argument.\nSee 'berth ${name} --help'.\n\nUsage:  berth ${name} [OPTIONS] PATH | URL | -\n\nBuild an image from a Dockerfile`, 1);
      const g = globals(cmd);
      const client = await clientFor(g);
      const trust = trustEnabled(f.disableContentTrust);
      let pinned: Awaited<ReturnType<typeof trustedDockerfile>>['pinned'] = [];
      const secrets = secretEntries(f.secret ?? []);
      const extra: ExtraEntry[] = [...secrets.entries];
      // Made when sent: a context named by its digest is never read.
      let body: () => Readable;
      let dockerfile = f.file;
      let remote: string | undefined;
      // How an unchanged context, or one with some files changed, is sent to a daemon that has the last one.
      let plan: { key: string[]; survey: ContextSurvey; named?: string; onTop?: { base: string; body: () => Readable } } | undefined;

      if (context === '-') {
        if (f.file === '-') throw new CliError('invalid argument: can\'t use stdin for both build context and dockerfile', 1);
        const { head, stream } = await peekStdin(512);
        if (isArchive(head)) {
          if (extra.length) throw new CliError('--secret cannot be used with a tar context from stdin', 1);
          if (trust) throw new CliError('content trust cannot pin the FROM images of a tar context from stdin: use --disable-content-trust', 1);
          body = () => stream;
        } else {
          const chunks: Buffer[] = [];
          for await (const c of stream) chunks.push(c as Buffer);
          let data = Buffer.concat(chunks);
          if (trust) {
            const rewritten = await trustedDockerfile(trustContext(g.config), data.toString('utf8'));
            pinned = rewritten.pinned;
            data = Buffer.from(rewritten.text);
          }
          body = () => packContext({ keep: [], extra: [...extra, { name: 'Dockerfile', data }] });
          dockerfile = 'Dockerfile';
        }
      } else if (/^https?:\/\//.test(context) || isGitUrl(context)) {
        if (trust) throw new CliError('content trust cannot pin the FROM images of a remote build context: use --disable-content-trust', 1);
        remote = context;
        body = () => packContext({ keep: [], extra });
      } else {
        const dir = resolve(context);
        let st;
        try {
          st = statSync(dir);
        } catch {
          throw new CliError(`unable to prepare context: path "${context}" not found`, 1);
        }
        if (!st.isDirectory()) throw new CliError(`unable to prepare context: context must be a directory: ${dir}`, 1);
        let dfRel = 'Dockerfile';
        let ignoreText: string | undefined;
        if (f.file === '-') {
          dfRel = `.dockerfile.${randomBytes(10).toString('hex')}`;
          extra.push({ name: dfRel, data: await readStdin() });
        } else if (f.file) {
          const abs = isAbsolute(f.file) ? f.file : resolve(f.file);
          const rel = relative(dir, abs);
          if (!existsSync(abs)) throw new CliError(`unable to prepare context: the Dockerfile (${f.file}) cannot be found`, 1);
          if (rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) {
            // Outside the context: sent under a name of its own, with its ignore file.
            dfRel = `.dockerfile.${randomBytes(10).toString('hex')}`;
            extra.push({ name: dfRel, data: readFileSync(abs) });
            if (existsSync(abs + '.dockerignore')) {
              ignoreText = readFileSync(abs + '.dockerignore', 'utf8');
              extra.push({ name: dfRel + '.dockerignore', data: Buffer.from(ignoreText) });
            }
          } else {
            dfRel = rel.split(sep).join('/');
          }
        } else if (!existsSync(join(dir, 'Dockerfile')) && existsSync(join(dir, 'dockerfile'))) {
          dfRel = 'dockerfile';
        }
        if (ignoreText === undefined) {
          for (const c of ignoreFileCandidates(dfRel)) {
            if (existsSync(join(dir, c))) {
              ignoreText = readFileSync(join(dir, c), 'utf8');
              break;
            }
          }
        }
        dockerfile = dfRel;
        if (trust) {
          // FROM pinned to signed digests: the rewritten Dockerfile goes under a name of its own.
          const own = extra.find((e) => e.name === dfRel);
          const text = own ? own.data.toString('utf8') : readFileSync(join(dir, dfRel), 'utf8');
          const rewritten = await trustedDockerfile(trustContext(g.config), text);
          pinned = rewritten.pinned;
          dockerfile = `.dockerfile.${randomBytes(10).toString('hex')}`;
          extra.push({ name: dockerfile, data: Buffer.from(rewritten.text) });
          if (ignoreText !== undefined) extra.push({ name: `${dockerfile}.dockerignore`, data: Buffer.from(ignoreText) });
        }
        const ignore = ignoreText !== undefined ? ignoreMatcher(parseIgnoreFile(ignoreText)) : undefined;
        const pack = { dir, ignore, keep: [dfRel, '.dockerignore', `${dfRel}.dockerignore`], extra };
        body = () => packContext(pack);
        if (extra.length === 0) {
          // Taken before any file is read: a file written after this is never taken for what was sent.
          const survey = surveyContext(pack);
          const key = [client.host.url, dir, dfRel, ignoreText ?? ''];
          const last = recallContext(key);
          plan = { key, survey };
          if (last && survey.settled && last.fingerprint === survey.fingerprint) {
            plan.named = last.digest;
          } else if (last && !(BASE_FILES_IN_CONTEXT in survey.files)) {
            const same = Object.keys(survey.files).filter((rel) => last.files[rel] === survey.files[rel]);
            const manifest = { name: BASE_FILES_IN_CONTEXT, data: Buffer.from(JSON.stringify({ files: same })) };
            if (same.length > 0) plan.onTop = { base: last.digest, body: () => packContext({ ...pack, skip: new Set(same), extra: [manifest] }) };
          }
        }
      }

      const buildArgs: Record<string, string | null> = {};
      for (const a of f.buildArg ?? []) {
        const eq = a.indexOf('=');
        if (eq < 0) {
          const v = process.env[a];
          if (v !== undefined) buildArgs[a] = v;
          else buildArgs[a] = null;
        } else {
          buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
        }
      }
      const labels: Record<string, string> = {};
      for (const l of f.label ?? []) {
        const eq = l.indexOf('=');
        labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
      }
      const query = {
          t: f.tag,
          dockerfile: remote ? f.file : dockerfile,
          buildargs: JSON.stringify(buildArgs),
          labels: JSON.stringify(labels),
          target: f.target,
          nocache: !f.cache,
          pull: f.pull === true,
          q: f.quiet === true || f.progress === 'quiet',
          rm: boolValue(f.rm),
          forcerm: f.forceRm === true,
          networkmode: f.network,
          extrahosts: f.addHost,
          platform: f.platform,
          remote,
          cachefrom: f.cacheFrom?.length ? JSON.stringify(f.cacheFrom) : undefined,
          secrets: secrets.ids.length ? JSON.stringify(secrets.ids) : undefined,
      };
      // A daemon that no longer has the earlier context answers 412: then it gets the whole of it.
      const unlessGone = async (send: () => ReturnType<typeof client.stream>) => {
        try {
          return await send();
        } catch (err) {
          if (err instanceof ApiError && err.status === 412) return undefined;
          throw err;
        }
      };
      let res: Awaited<ReturnType<typeof client.stream>> | undefined;
      if (plan?.named) {
        const digest = plan.named;
        res = await unlessGone(() => client.stream('POST', '/build', { query: { ...query, contextdigest: digest } }));
      } else if (plan?.onTop) {
        const { base, body: delta } = plan.onTop;
        res = await unlessGone(() => client.stream('POST', '/build', { query: { ...query, contextbase: base }, stream: delta(), contentType: 'application/x-tar' }));
      }
      res ??= await client.stream('POST', '/build', { query, stream: body(), contentType: 'application/x-tar' });
      const kept = res.headers['x-berth-context-digest'];
      if (plan && kept && kept !== plan.named) {
        rememberContext(plan.key, { fingerprint: plan.survey.settled ? plan.survey.fingerprint : '', digest: kept, files: plan.survey.files });
      }
      const quiet = f.quiet === true || f.progress === 'quiet';
      const live = !quiet && (f.progress === 'tty' || (f.progress === 'auto' && process.stdout.isTTY === true)) ? liveView(process.stdout) : undefined;
      let imageId = '';
      for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
        if (line.trim() === '') continue;
        let m: BuildLine;
        try {
          m = JSON.parse(line) as BuildLine;
        } catch {
          continue;
        }
        if (m.error !== undefined || m.errorDetail) {
          live?.fail();
          const code = m.errorDetail?.code && m.errorDetail.code > 0 ? m.errorDetail.code : 1;
          throw new CliError(m.errorDetail?.message ?? m.error ?? 'unknown error', code);
        }
        if (m.aux?.ID) imageId = m.aux.ID;
        if (m.stream !== undefined) {
          if (quiet) continue;
          if (live) live.text(m.stream);
          else process.stdout.write(m.stream);
        } else if (m.status !== undefined && !quiet && !live) {
          process.stdout.write(m.status + '\n');
        }
      }
      live?.done();
      if (!imageId) throw new CliError('the build ended without an image', 1);
      // As the docker CLI: the trusted base images get their tags, pointing at the digests built from.
      for (const p of pinned) {
        process.stderr.write(`Tagging ${p.digestRef} as ${p.tagged.name}:${p.tagged.tag}\n`);
        await client.status('POST', `/images/${p.digestRef}/tag`, { query: { repo: p.tagged.name, tag: p.tagged.tag } });
      }
      if (quiet) process.stdout.write(imageId + '\n');
      if (f.iidfile) writeFileSync(f.iidfile, imageId);
    });
}

export function registerBuildCommands(program: Command, builderGroup: Command): void {
  defineBuild(program, 'build');
  const image = program.commands.find((c) => c.name() === 'image');
  if (image) defineBuild(image, 'build');
  defineBuild(builderGroup, 'build');
}

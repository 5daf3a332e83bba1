import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const K8S = join(ROOT, 'k8s');
const JOBS = join(K8S, 'jobs');

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- a manifest is free-form YAML, read as any: the assertions are what check its shape */
type Doc = Record<string, any>;
const parse = (text: string, source: string): Doc[] =>
  parseAllDocuments(text).map((d) => {
    expect(d.errors, source).toEqual([]);
    return d.toJSON() as Doc;
  });
const load = (dir: string, file: string): Doc[] => parse(readFileSync(join(dir, file), 'utf8'), file);

/**
 * What `kubectl apply -k k8s/` sends, rendered by the real kustomize (`kubectl kustomize`:
 * kustomize v5 in current kubectl, v2 in Debian's kubernetes-client, which .ci/run installs
 * when no kubectl is there). Without kubectl the rendering tests fail in CI and are skipped,
 * saying so, elsewhere.
 */
const kubectl = spawnSync('kubectl', ['kustomize', K8S], { encoding: 'utf8' });
const NO_KUBECTL = kubectl.error !== undefined;
if (NO_KUBECTL && process.env.CI !== 'true') console.warn(`test/ops/manifests.test.ts: kubectl not found (${kubectl.error!.message}): the kustomization is not rendered`);
const rendered = (): Doc[] => {
  if (NO_KUBECTL) throw new Error(`kubectl is needed to render k8s/ with kustomize and was not found (${kubectl.error!.message}); .ci/run installs Debian's kubernetes-client`);
  expect(kubectl.status, `kubectl kustomize k8s failed: ${kubectl.stderr}`).toBe(0);
  return parse(kubectl.stdout, 'kubectl kustomize k8s');
};
const renders = it.skipIf(NO_KUBECTL && process.env.CI !== 'true');

/** The Jobs run on demand with `kubectl create -f k8s/jobs/…`, outside the kustomization. */
const jobFiles = readdirSync(JOBS).filter((f) => f.endsWith('.yaml'));
const jobs = jobFiles.flatMap((f) => load(JOBS, f).map((doc) => ({ file: `jobs/${f}`, doc })));
const onDisk = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const docs = onDisk.flatMap((f) => load(K8S, f).map((doc) => ({ file: f, doc })));
const cronJobs = docs.filter((d) => d.doc.kind === 'CronJob');
const podSpecs = [
  ...cronJobs.map((c) => ({ file: c.file, job: c.doc.spec.jobTemplate.spec })),
  ...jobs.map((j) => ({ file: j.file, job: j.doc.spec })),
];

/**
 * Checks an object against the Kubernetes OpenAPI schema of its kind (kubernetes-models'
 * validator): types, required fields, quantities. As the API server's strict field validation
 * does (kubectl's default), a field the schema does not know is an error too: the validator
 * reads every field its schema names, and every key of a map, so a field it never reads is one
 * the schema does not have.
 */
async function schemaErrors(doc: Doc): Promise<string[]> {
  const at = `${String(doc.kind)} ${String(doc.metadata?.name ?? doc.metadata?.generateName)}`;
  let model: any;
  try {
    model = (await import(`kubernetes-models/${String(doc.apiVersion)}/${String(doc.kind)}`))[doc.kind];
  } catch {
    return [`${at}: kubernetes-models has no schema for ${String(doc.apiVersion)} ${String(doc.kind)}`];
  }
  /** Each object the validator reached: the keys it read, or all of them (a map's). */
  const reached: { path: string; value: Doc; read: Set<string>; all: boolean }[] = [];
  const watch = (value: any, path: string): any => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v, i) => watch(v, `${path}[${i}]`));
    const node = { path, value, read: new Set<string>(), all: false };
    reached.push(node);
    const children = new Map<string, any>();
    return new Proxy(value, {
      get(target, key) {
        if (typeof key !== 'string' || !Object.hasOwn(target, key)) return Reflect.get(target, key);
        node.read.add(key);
        if (!children.has(key)) children.set(key, watch(target[key], path === '' ? key : `${path}.${key}`));
        return children.get(key);
      },
      has(target, key) {
        if (typeof key === 'string') node.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        node.all = true;
        return Reflect.ownKeys(target);
      },
    });
  };
  const errors: string[] = [];
  try {
    model.prototype.validate.call(watch(doc, ''));
  } catch (err) {
    errors.push(`${at}: ${(err as Error).message}`);
  }
  for (const node of reached.filter((n) => !n.all)) {
    for (const key of Object.keys(node.value).filter((k) => !node.read.has(k))) {
      errors.push(`${at}: ${node.path === '' ? key : `${node.path}.${key}`} is not a field of ${String(doc.kind)}`);
    }
  }
  return errors;
}

describe('Kubernetes manifests', () => {
  renders('kustomize renders k8s/ (the deploy command\'s `kubectl apply -k k8s/`): what is applied and kept, no Job', () => {
    const objects = rendered();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/yzh-recon', 'ConfigMap/yzh-recon-dashboard', 'CronJob/yzh-recon-0350', 'CronJob/yzh-recon-1150', 'CronJob/yzh-recon-1650', 'Namespace/yzh-recon',
      'PersistentVolumeClaim/yzh-recon-archive', 'PersistentVolumeClaim/yzh-recon-reports',
    ]);
    for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('yzh-recon');
    // What it renders is what the files say (the tests below read the files), the image's tag included.
    const [k] = load(K8S, 'kustomization.yaml');
    expect([...k!.resources].sort()).toEqual([...onDisk.filter((f) => f !== 'secret.example.yaml'), 'monitoring/grafana-dashboard.yaml'].sort());
    const images = objects.filter((o) => o.kind === 'CronJob').map((o) => o.spec.jobTemplate.spec.template.spec.containers[0].image);
    expect(new Set(images)).toEqual(new Set([`${k!.images[0].name}:${k!.images[0].newTag}`]));
  });

  renders('every object kustomize renders is valid against the Kubernetes schema of its kind, unknown fields included', async () => {
    const errors = (await Promise.all(rendered().map(schemaErrors))).flat();
    expect(errors).toEqual([]);
  });

  it('the Jobs run on demand, and the Secret example, are valid against their schemas too, and name their namespace and the kustomization\'s image', async () => {
    expect(jobFiles.sort()).toEqual(['job-migrate.yaml', 'job-rerun.yaml', 'job-verify.yaml']);
    const secret = docs.filter((d) => d.doc.kind === 'Secret');
    const errors = (await Promise.all([...jobs, ...secret].map((j) => schemaErrors(j.doc)))).flat();
    expect(errors).toEqual([]);
    const [k] = load(K8S, 'kustomization.yaml');
    for (const { file, doc } of jobs) {
      // `kubectl create -f`: no kustomize fills these in.
      expect(doc.metadata.namespace, file).toBe('yzh-recon');
      expect(doc.spec.template.spec.containers[0].image, file).toBe(`${k!.images[0].name}:${k!.images[0].newTag}`);
    }
  });

  it('the schema check finds what the API server would refuse', async () => {
    const [cron] = cronJobs.map((c) => structuredClone(c.doc));
    const pod = cron!.spec.jobTemplate.spec.template.spec;
    pod.containers[0].securityContxt = pod.containers[0].securityContext;
    pod.containers[0].resources.limits.memory = '512 megabytes';
    delete pod.containers[0].name;
    const errors = await schemaErrors(cron!);
    expect(errors.join('\n')).toMatch(/limits\/memory must match format "quantity"/);
    expect(errors.join('\n')).toMatch(/containers\/0 must have required property name/);
    expect(errors).toContain('CronJob yzh-recon-0350: spec.jobTemplate.spec.template.spec.containers[0].securityContxt is not a field of CronJob');
    expect(await schemaErrors({ ...cron!, kind: 'CronTab' })).toEqual(['CronTab yzh-recon-0350: kubernetes-models has no schema for batch/v1 CronTab']);
  });

  it('one CronJob per regeneration, after the order file, in Beijing time', () => {
    expect(cronJobs.map((c) => c.doc.spec.schedule).sort()).toEqual(['50 11 * * *', '50 16 * * *', '50 3 * * *']);
    for (const { file, doc } of cronJobs) {
      expect(doc.spec.timeZone, file).toBe('Asia/Shanghai');
      expect(doc.spec.concurrencyPolicy, file).toBe('Forbid');
      expect(doc.spec.startingDeadlineSeconds, file).toBeGreaterThan(0);
      expect(doc.spec.successfulJobsHistoryLimit, file).toBeGreaterThan(0);
      expect(doc.spec.failedJobsHistoryLimit, file).toBeGreaterThan(0);
      expect(doc.spec.jobTemplate.spec.template.spec.containers[0].args).toEqual(['run', '--trigger', 'schedule']);
    }
  });

  it('every Job is bounded, cleaned up and locked down', () => {
    expect(podSpecs.length).toBe(6);
    for (const { file, job } of podSpecs) {
      expect(job.backoffLimit, file).toBeGreaterThanOrEqual(0);
      expect(job.backoffLimit, file).toBeLessThanOrEqual(3);
      expect(job.activeDeadlineSeconds, file).toBeGreaterThan(0);
      expect(job.ttlSecondsAfterFinished, file).toBeGreaterThan(0);
      const pod = job.template.spec;
      expect(pod.restartPolicy, file).toBe('Never');
      expect(pod.terminationGracePeriodSeconds, file).toBeGreaterThanOrEqual(15);
      expect(pod.securityContext.runAsNonRoot, file).toBe(true);
      const [c] = pod.containers;
      expect(c.securityContext, file).toMatchObject({
        allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
      });
      expect(c.resources.requests.memory, file).toBeDefined();
      expect(c.resources.limits.memory, file).toBeDefined();
      expect(c.envFrom, file).toEqual([{ configMapRef: { name: 'yzh-recon' } }, { secretRef: { name: 'yzh-recon' } }]);
      // A read-only root filesystem needs a writable /tmp for the downloads.
      expect(c.volumeMounts, file).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    }
  });

  it('the CronJobs write the finance page to a writable volume that outlives the pod (YZH_REPORT_DIR)', () => {
    const config = docs.find((d) => d.doc.kind === 'ConfigMap')!.doc.data as Record<string, string>;
    const dir = config.YZH_REPORT_DIR;
    expect(dir).toBeDefined();
    const claim = docs.find((d) => d.doc.kind === 'PersistentVolumeClaim' && d.doc.metadata.name === 'yzh-recon-reports')!.doc;
    for (const { file, doc } of cronJobs) {
      const pod = doc.spec.jobTemplate.spec.template.spec;
      const mount = pod.containers[0].volumeMounts.find((m: Doc) => m.mountPath === dir);
      expect(mount, file).toBeDefined();
      expect(mount.readOnly ?? false, file).toBe(false);
      const volume = pod.volumes.find((v: Doc) => v.name === mount.name);
      expect(volume.persistentVolumeClaim?.claimName, file).toBe(claim.metadata.name);
    }
  });

  it('the archive is a PersistentVolumeClaim mounted at YZH_ARCHIVE_DIR by every pod that runs the job or verifies it', () => {
    const claims = docs.filter((d) => d.doc.kind === 'PersistentVolumeClaim' && d.doc.metadata.name === 'yzh-recon-archive');
    expect(claims).toHaveLength(1);
    expect(claims[0]!.doc.spec.resources.requests.storage).toMatch(/^\d+Gi$/);
    const config = docs.find((d) => d.doc.kind === 'ConfigMap')!.doc.data as Record<string, string>;
    const archiveDir = config.YZH_ARCHIVE_DIR!;
    expect(archiveDir).toMatch(/^\/[\w/-]+$/);
    const archivePods = podSpecs.filter(({ job }) => ['run', 'verify'].includes(job.template.spec.containers[0].args[0]));
    expect(archivePods.length).toBe(5);
    for (const { file, job } of archivePods) {
      const pod = job.template.spec;
      const [c] = pod.containers;
      const verifying = c.args[0] === 'verify';
      const volume = pod.volumes.find((v: Doc) => v.persistentVolumeClaim?.claimName === 'yzh-recon-archive');
      expect(volume?.persistentVolumeClaim.claimName, file).toBe('yzh-recon-archive');
      const mount = c.volumeMounts.find((m: Doc) => m.name === volume.name);
      expect(mount, file).toEqual({ name: volume.name, mountPath: archiveDir, ...(verifying ? { readOnly: true } : {}) });
      // The root filesystem stays read-only: only the volumes are writable.
      expect(c.securityContext.readOnlyRootFilesystem, file).toBe(true);
      // The volume is writable by the container's user through its group.
      expect(pod.securityContext.fsGroup, file).toBe(pod.securityContext.runAsGroup);
    }
  });

  it('a migrate Job, a manual re-run Job and a verify Job exist', () => {
    const args = jobs.map((j) => j.doc.spec.template.spec.containers[0].args);
    for (const { file, doc } of jobs) expect(doc.kind, file).toBe('Job');
    expect(args).toContainEqual(['migrate']);
    expect(args.some((a: string[]) => a[0] === 'run' && a.includes('--from') && a.includes('--to'))).toBe(true);
    expect(args).toContainEqual(['verify']);
  });

  it('no secret value is committed: the ConfigMap holds no key, the Secret example only placeholders', () => {
    const config = docs.find((d) => d.doc.kind === 'ConfigMap')!.doc.data as Record<string, string>;
    for (const key of ['YZH_APP_KEY', 'YZH_DES3_KEY', 'DATABASE_URL']) expect(config).not.toHaveProperty(key);
    const secret = docs.find((d) => d.doc.kind === 'Secret')!.doc.stringData as Record<string, string>;
    expect(Object.keys(secret).sort()).toEqual(['DATABASE_URL', 'YZH_APP_KEY', 'YZH_DES3_KEY']);
    for (const value of Object.values(secret)) expect(value).toMatch(/<[^>]+>/);
    const everything = [...onDisk.map((f) => join(K8S, f)), ...jobFiles.map((f) => join(JOBS, f))].map((f) => readFileSync(f, 'utf8')).join('\n');
    expect(everything).not.toMatch(/78f9b4fad3481fbce1df0b30eee58577|123456788765432112345678/);
  });
});

describe('the words beside the manifests', () => {
  // The load today (src/recon/load/): on a server, one file after the other, framed on the main
  // thread into Postgres' COPY; a parser thread for PGlite alone; downloads the only temp files.
  const stale = /two threads|both files at once|spool|COPY text while/i;

  it('the k8s/ comments describe the load as it is', () => {
    const files = [...onDisk.map((f) => join(K8S, f)), ...jobFiles.map((f) => join(JOBS, f))];
    const found = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').map((line, i) => `${f.slice(K8S.length + 1)}:${i + 1}: ${line.trim()}`)).filter((l) => stale.test(l));
    expect(found).toEqual([]);
  });

  it('the README\'s YZH_TMP_DIR row names only the downloads', () => {
    const row = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').find((l) => l.startsWith('| `YZH_TMP_DIR` |'));
    expect(row).toMatch(/downloads/);
    expect(row).not.toMatch(stale);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = [...text.matchAll(/^FROM (\S+) AS (\w+)/gm)].map((m) => [m[1], m[2]]);

  it('builds in stages on the official slim Node 20 image, and runs production dependencies only', () => {
    expect(stages.map((s) => s[1])).toEqual(['build', 'deps', 'runtime']);
    expect(stages.every((s) => /^node:20-[a-z]+-slim$/.test(s[0]!))).toBe(true);
    expect(text).toMatch(/npm ci --omit=dev/);
    const runtime = text.slice(text.indexOf('AS runtime'));
    expect(runtime).not.toMatch(/COPY --from=build \/app\/node_modules/);
  });

  it('runs as a non-root user under tini, with `run` as the default command and no secrets', () => {
    const runtime = text.slice(text.indexOf('AS runtime'));
    expect(runtime).toMatch(/^USER 1000:1000$/m);
    const entrypoint = /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", (.*)"\/app\/dist\/cli\/main.js"\]$/m.exec(runtime);
    expect(entrypoint).not.toBeNull();
    // The image starts node with the same flags as the command's own first line.
    const shebang = readFileSync(join(ROOT, 'src', 'cli', 'main.ts'), 'utf8').split('\n', 1)[0]!;
    expect(shebang).toMatch(/^#!\/usr\/bin\/env -S node( --\S+)*$/);
    const flags = shebang.split(' ').slice(3);
    expect(flags.length).toBeGreaterThan(0);
    expect(entrypoint![1]).toBe(flags.map((f) => `"${f}", `).join(''));
    expect(runtime).toMatch(/^CMD \["run", "--trigger", "schedule"\]$/m);
    expect(text).not.toMatch(/YZH_APP_KEY|YZH_DES3_KEY|DATABASE_URL=/);
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['.git', 'node_modules', '.env']));
  });
});

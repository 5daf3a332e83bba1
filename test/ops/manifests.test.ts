import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const K8S = join(ROOT, 'k8s');

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- a manifest is free-form YAML, read as any: the assertions are what check its shape */
type Doc = Record<string, any>;
const load = (file: string): Doc[] =>
  parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => {
    expect(d.errors, file).toEqual([]);
    return d.toJSON() as Doc;
  });
const manifests = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const docs = manifests.flatMap((f) => load(f).map((doc) => ({ file: f, doc })));
const cronJobs = docs.filter((d) => d.doc.kind === 'CronJob');
const jobs = docs.filter((d) => d.doc.kind === 'Job');
const podSpecs = [
  ...cronJobs.map((c) => ({ file: c.file, job: c.doc.spec.jobTemplate.spec })),
  ...jobs.map((j) => ({ file: j.file, job: j.doc.spec })),
];

describe('Kubernetes manifests', () => {
  it('kustomization.yaml lists every manifest but the secret example', () => {
    const [k] = load('kustomization.yaml');
    expect([...k!.resources].sort()).toEqual(manifests.filter((f) => f !== 'secret.example.yaml').sort());
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
    const everything = manifests.map((f) => readFileSync(join(K8S, f), 'utf8')).join('\n');
    expect(everything).not.toMatch(/78f9b4fad3481fbce1df0b30eee58577|123456788765432112345678/);
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

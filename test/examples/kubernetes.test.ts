/**
 * examples/kubernetes/*.yaml: every document parses (the `yaml` package, strict), and the manifests say
 * what the README's Deploying promises: a UDP and a TCP port per worker published as the same hostPort,
 * the node's address from the downward API, the rmem_max sysctl from a privileged DaemonSet (not a pod
 * securityContext, which kubelet refuses for it), and a readiness probe that reads the workers' stats;
 * the probe's script is run against a stand-in /stats server.
 */
import { execFile } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const dir = new URL("../../examples/kubernetes/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects, read field by field below
type K8s = any;

function parseYaml(text: string, what: string): K8s[] {
  const docs = parseAllDocuments(text, { strict: true, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new Error(`${what}: not a YAML stream`);
  return docs.map((doc) => {
    expect(doc.errors, what).toEqual([]);
    expect(doc.warnings, what).toEqual([]);
    return doc.toJS();
  });
}
const load = (file: string) => parseYaml(readFileSync(new URL(file, dir), "utf8"), file);

const all = files.flatMap((f) => load(f).map((doc) => ({ file: f, doc })));
const find = (kind: string, name: string): K8s => {
  const found = all.filter(({ doc }) => doc?.kind === kind && doc.metadata?.name === name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0]!.doc;
};

it("every document of every manifest parses and is a Kubernetes object", () => {
  expect(files.sort()).toEqual(["cluster.yaml", "sysctl-daemonset.yaml"]);
  for (const { file, doc } of all) {
    expect(typeof doc.apiVersion, file).toBe("string");
    expect(typeof doc.kind, file).toBe("string");
    expect(typeof doc.metadata?.name, file).toBe("string");
  }
});

describe("cluster.yaml: the cluster example", () => {
  const deployment = find("Deployment", "udpmux-cluster");
  const pod = deployment.spec.template.spec;
  const sfu = pod.containers.find((c: K8s) => c.name === "sfu");
  const flag = (name: string): string | undefined =>
    sfu.args.find((a: string) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

  it("runs examples/cluster with its workers on BASE + i", () => {
    expect(sfu.command).toEqual(["node", "examples/cluster/server.mjs"]);
    expect(flag("workers")).toBe("4");
    expect(flag("port")).toBe("50000");
    expect(flag("host")).toBe("0.0.0.0");
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    // A core per worker.
    expect(sfu.resources.requests.cpu).toBe("4");
  });

  it("publishes one UDP and one TCP port per worker, each as the same hostPort", () => {
    const workers = Number(flag("workers"));
    const base = Number(flag("port"));
    const media = sfu.ports.filter((p: K8s) => p.name !== "signaling");
    expect(media).toHaveLength(2 * workers);
    for (let i = 0; i < workers; i++) {
      for (const protocol of ["UDP", "TCP"]) {
        const port = media.filter((p: K8s) => p.protocol === protocol && p.containerPort === base + i);
        expect(port, `${protocol} ${base + i}`).toHaveLength(1);
        expect(port[0].hostPort, `${protocol} ${base + i}`).toBe(base + i);
      }
    }
    // No surge: two pods can't hold the same hostPorts on one node.
    expect(deployment.spec.strategy.rollingUpdate.maxSurge).toBe(0);
  });

  it("announces the node's address from the downward API", () => {
    const env = sfu.env.find((e: K8s) => e.name === "PUBLIC_IP");
    expect(env.valueFrom.fieldRef.fieldPath).toBe("status.hostIP");
    expect(flag("announce")).toBe("$(PUBLIC_IP)"); // Kubernetes expands $(VAR) in args
  });

  it("sets no sysctl in the pod (kubelet refuses net.core.rmem_max there) and runs unprivileged", () => {
    expect(pod.securityContext?.sysctls).toBeUndefined();
    expect(sfu.securityContext.privileged).toBeUndefined();
    expect(sfu.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(pod.hostNetwork).toBeUndefined();
  });

  it("exposes the signaling through a Service selecting the pods", () => {
    const service = find("Service", "udpmux-cluster-signaling");
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.ports).toEqual([
      expect.objectContaining({ targetPort: "signaling", protocol: "TCP" }),
    ]);
    expect(sfu.ports.find((p: K8s) => p.name === "signaling").containerPort).toBe(Number(flag("http-port")));
  });

  describe("readiness from the workers' stats (GET /stats)", () => {
    const probe = sfu.readinessProbe.exec.command as string[];
    const script = probe.at(-1)!;

    it("is an exec probe reading /stats on the signaling port", () => {
      expect(probe.slice(0, -1)).toEqual(["node", "--input-type=module", "-e"]);
      expect(script).toContain(`http://127.0.0.1:${flag("http-port")}/stats`);
    });

    /** Run the probe's script against a stand-in /stats server answering `status` and `body`. */
    async function run(status: number, body: unknown): Promise<number> {
      const server = http.createServer((req, res) => {
        expect(req.url).toBe("/stats");
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as AddressInfo;
      const url = `http://127.0.0.1:${flag("http-port")}/stats`;
      try {
        const args = [...probe.slice(1, -1), script.replace(url, `http://127.0.0.1:${port}/stats`)];
        await promisify(execFile)(process.execPath, args, { timeout: 10_000 });
        return 0;
      } catch (error) {
        return (error as { code?: number }).code ?? -1;
      } finally {
        server.closeAllConnections();
        server.close();
        await once(server, "close");
      }
    }
    const worker = (index: number, connections = 0) => ({
      index,
      alive: true,
      port: 50000 + index,
      connections,
    });

    it("passes with every worker up, fails with one down, when full, or while stopping", async () => {
      const four = [0, 1, 2, 3].map((i) => worker(i, 10));
      expect(await run(200, { workers: four })).toBe(0);
      expect(await run(200, { workers: [...four.slice(0, 3), { ...worker(3), alive: false }] })).not.toBe(0);
      expect(await run(200, { workers: four.slice(0, 3) })).not.toBe(0);
      expect(await run(200, { workers: [0, 1, 2, 3].map((i) => worker(i, 2000)) })).not.toBe(0);
      expect(await run(503, "shutting down")).not.toBe(0);
    });
  });
});

it("the README's excerpt parses and says what cluster.yaml says", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = /```yaml\n(# examples\/kubernetes\/cluster\.yaml \(excerpt\)\n[\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const [doc] = parseYaml(block!, "README excerpt");
  const sfu = find("Deployment", "udpmux-cluster").spec.template.spec.containers[0];
  expect(doc.args).toEqual(sfu.args);
  expect(doc.env).toEqual(sfu.env.filter((e: K8s) => e.name === "PUBLIC_IP"));
  for (const port of doc.ports) expect(sfu.ports).toContainEqual(port);
  expect(doc.readinessProbe.exec.command.slice(0, 3)).toEqual(sfu.readinessProbe.exec.command.slice(0, 3));
  // The README no longer suggests a pod securityContext for the receive buffer.
  expect(readme).not.toMatch(/set through the pod's `securityContext`/);
});

describe("sysctl-daemonset.yaml: the receive buffer, set on the node", () => {
  const ds = find("DaemonSet", "udpmux-sysctl");
  const pod = ds.spec.template.spec;

  it("raises net.core.rmem_max from a privileged init container on the host network", () => {
    expect(pod.hostNetwork).toBe(true);
    const [init] = pod.initContainers;
    expect(init.securityContext.privileged).toBe(true);
    expect(init.command).toEqual(["sysctl", "-w", "net.core.rmem_max=8388608"]);
    // ≥ the 4 MiB UDPMux.bind asks for.
    expect(Number(init.command[2].split("=")[1])).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(pod.containers.map((c: K8s) => c.name)).toEqual(["pause"]);
  });

  it("runs on the nodes the cluster example is scheduled on", () => {
    expect(ds.spec.selector.matchLabels).toEqual(ds.spec.template.metadata.labels);
    const sfuNodes = find("Deployment", "udpmux-cluster").spec.template.spec.nodeSelector;
    expect(pod.nodeSelector).toEqual(sfuNodes);
  });
});

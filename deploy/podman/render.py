#!/usr/bin/env python3
"""Renders deploy/k8s manifests for `podman kube play` (podman 4.3, CNI).

    render.py [OPTIONS] MANIFEST.yaml... > OUT.yaml

Fills the REPLACE-... placeholders from files, as a user would, and makes the
few changes podman needs because it is not Kubernetes. Every change is printed
on stderr as "podman: ..." and deploy/README.md ("Running on podman") gives
the Kubernetes feature each one stands in for:

  --data NAME=DIR        ConfigMap or Secret NAME: each file of DIR sets the
                         key of its name (the placeholders); other keys stay
  --replace-data NAME=DIR
                         the same, but the files of DIR are all its data
  --ip SERVICE=IP        the pod behind Service SERVICE (NAME.NAMESPACE) gets
                         IP (pass the same IPs to `podman kube play --ip`); every
                         pod gets hostAliases for every Service's cluster DNS name
  --image-tag TAG        vmesh:0.1.0 and vmesh-rvp-nginx:0.1.0 become ...:TAG
  --psa-sim DEPLOYMENT=DIR
                         the sidecar of DEPLOYMENT attests with psa-sim, not
                         the node's TPM: its IAK, claims and measured workload
                         (DIR/iak.pem, claims.json, workload) from a new
                         ConfigMap DEPLOYMENT-psa-sim
  --only KIND/NAME       keep this workload (Deployment/Pod) and the ConfigMaps
                         and Secrets it mounts; repeatable (default: all)

Changes made without an option:
  - a Deployment of N replicas becomes N Pods NAME-0 .. NAME-(N-1) (what its
    ReplicaSet would create), each with emptyDir volumes of its own: podman
    4.3 makes an emptyDir a named volume that every pod naming it shares;
  - Secrets become ConfigMaps of the same name and content: podman 4.3 writes
    a Secret's data base64-encoded into its volume, and stringData not at all;
  - $(VAR) references in command and args are expanded from the container's
    env (value or fieldRef metadata.name/namespace): podman 4.3 does not;
  - containerPort entries are left out (probes get the port number): podman
    4.3 publishes every containerPort on the host's 0.0.0.0;
  - native sidecars (initContainers with restartPolicy: Always, Kubernetes
    >= 1.29) become ordinary containers, first in the list: podman runs init
    containers to completion before the others;
  - Service ports: a URL or HOST:PORT naming NAME.NAMESPACE.svc.cluster.local
    on the Service port is rewritten to the target port (no kube-proxy);
  - app images of registry.example become a stand-in: the vmesh image serving,
    on the container's LISTEN_ADDR, a file that names the pod
    (`vmesh rvp serve`);
  - Namespace, Service, ServiceAccount, NetworkPolicy, PodDisruptionBudget and
    DaemonSet documents are left out (podman 4.3 has no such objects; the test
    says what stands in for each).
"""
import base64
import copy
import re
import sys

import yaml

SVC_SUFFIX = ".svc.cluster.local"
DROPPED = ("Namespace", "Service", "ServiceAccount", "NetworkPolicy", "PodDisruptionBudget", "DaemonSet")
PSA_MOUNT = "/run/vmesh/psa-sim"


def note(msg):
    print("podman: " + msg, file=sys.stderr)


def die(msg):
    print("render: " + msg, file=sys.stderr)
    sys.exit(1)


def read_dir(d):
    import os
    out = {}
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                out[n] = f.read()
    if not out:
        die("--data: %s has no files" % d)
    return out


def parse_args(argv):
    opts = {"data": {}, "rdata": {}, "ip": {}, "tag": None, "psa": {}, "only": [], "files": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if a in ("--data", "--replace-data", "--ip", "--image-tag", "--psa-sim", "--only"):
            if i + 1 >= len(argv):
                die(a + " needs a value")
            v = argv[i + 1]
            i += 2
            if a == "--image-tag":
                opts["tag"] = v
                continue
            if a == "--only":
                opts["only"].append(v)
                continue
            if "=" not in v:
                die("%s %s: expected NAME=VALUE" % (a, v))
            k, val = v.split("=", 1)
            {"--data": opts["data"], "--replace-data": opts["rdata"], "--ip": opts["ip"], "--psa-sim": opts["psa"]}[a][k] = val
            continue
        if a.startswith("-"):
            die("unknown option " + a)
        opts["files"].append(a)
        i += 1
    if not opts["files"]:
        die("no manifest given (see --help)")
    return opts


def pod_spec(doc):
    if doc["kind"] == "Pod":
        return doc["spec"]
    return doc["spec"]["template"]["spec"]


def main(argv):
    o = parse_args(argv)
    docs = []
    for f in o["files"]:
        with open(f) as fh:
            docs += [d for d in yaml.safe_load_all(fh) if d]

    # Services: cluster DNS name -> (IP, {service port: target port number}).
    workloads = [d for d in docs if d["kind"] in ("Deployment", "Pod")]
    services = {}
    for s in (d for d in docs if d["kind"] == "Service"):
        name = "%s.%s" % (s["metadata"]["name"], s["metadata"].get("namespace", "default"))
        sel = s["spec"].get("selector", {})
        target = None
        for w in workloads:
            labels = (w["metadata"].get("labels", {}) if w["kind"] == "Pod"
                      else w["spec"]["template"]["metadata"].get("labels", {}))
            if sel and all(labels.get(k) == v for k, v in sel.items()):
                target = w
        ports = {}
        for p in s["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            if isinstance(tp, str) and target is not None:
                spec = pod_spec(target)
                for c in spec.get("initContainers", []) + spec.get("containers", []):
                    for cp in c.get("ports", []):
                        if cp.get("name") == tp:
                            tp = cp["containerPort"]
            if isinstance(tp, str):
                die("Service %s: target port %s not found in its pods" % (name, tp))
            ports[p["port"]] = tp
        services[name] = {"ip": o["ip"].get(name), "ports": ports}
    for k in o["ip"]:
        if k not in services:
            die("--ip %s: no such Service in the manifests" % k)

    def fix_service_ports(text):
        for name, s in services.items():
            fq = re.escape(name + SVC_SUFFIX)
            for port, tp in s["ports"].items():
                if port != tp:
                    text = re.sub(r"(%s):%d\b" % (fq, port), r"\g<1>:%d" % tp, text)
                    if port == 80:
                        text = re.sub(r"(http://%s)(?=[/\"'\s,]|$)(?!:)" % fq, r"\g<1>:%d" % tp, text, flags=re.M)
        return text

    only = set(o["only"])
    keep_names = None
    if only:
        keep_names = set()
        for w in workloads:
            if "%s/%s" % (w["kind"], w["metadata"]["name"]) in only:
                keep_names.add(("workload", w["metadata"]["name"]))
                for v in pod_spec(w).get("volumes", []):
                    if "configMap" in v:
                        keep_names.add(("ConfigMap", v["configMap"]["name"]))
                    if "secret" in v:
                        keep_names.add(("Secret", v["secret"]["secretName"]))
                    if "persistentVolumeClaim" in v:
                        keep_names.add(("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]))
        for k in only:
            if ("workload", k.split("/", 1)[-1]) not in keep_names:
                die("--only %s: no such workload" % k)

    out = []
    used_data = set()
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind in DROPPED:
            note("%s %s left out (no such object in podman)" % (kind, name))
            continue
        if keep_names is not None:
            key = ("workload", name) if kind in ("Deployment", "Pod") else (kind, name)
            if key not in keep_names:
                continue
        d = copy.deepcopy(d)
        if kind in ("ConfigMap", "Secret"):
            for opt in ("data", "rdata"):
                if name not in o[opt]:
                    continue
                files = read_dir(o[opt][name])
                used_data.add(name)
                if opt == "rdata":
                    d.pop("stringData", None)
                    d["data"] = {}
                for k, v in files.items():
                    if kind == "Secret":
                        d.get("stringData", {}).pop(k, None)
                        d.setdefault("data", {})[k] = base64.b64encode(v).decode()
                    else:
                        try:
                            d.setdefault("data", {})[k] = v.decode()
                        except UnicodeDecodeError:
                            die("%s/%s: not text" % (o[opt][name], k))
                note("%s %s: %s from %s" % (kind, name, ", ".join(files), o[opt][name]))
            if kind == "Secret":
                data = {k: base64.b64decode(v) for k, v in d.get("data", {}).items()}
                data.update({k: v.encode() for k, v in d.get("stringData", {}).items()})
                try:
                    data = {k: v.decode() for k, v in data.items()}
                except UnicodeDecodeError:
                    die("Secret %s: binary data cannot become a ConfigMap for podman (use text, e.g. base64)" % name)
                d = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": d["metadata"], "data": data}
                note("Secret %s is a ConfigMap (podman 4.3 secret volumes hold base64 text)" % name)
            for k, v in list(d.get("data", {}).items()):
                if "REPLACE-" in v:
                    die("%s %s key %s still holds a placeholder (--data)" % (kind, name, k))
                d["data"][k] = fix_service_ports(v)
            out.append(d)
            continue
        if kind not in ("Deployment", "Pod"):
            out.append(d)
            continue
        spec = pod_spec(d)
        # Native sidecars.
        inits = spec.get("initContainers", [])
        natives = [c for c in inits if c.get("restartPolicy") == "Always"]
        if natives:
            spec["initContainers"] = [c for c in inits if c.get("restartPolicy") != "Always"]
            if not spec["initContainers"]:
                del spec["initContainers"]
            for c in natives:
                del c["restartPolicy"]
                note("%s %s: native sidecar %s runs as an ordinary container" % (kind, name, c["name"]))
            spec["containers"] = natives + spec["containers"]
        # Services as hostAliases.
        aliases = {}
        for sname, s in services.items():
            if s["ip"]:
                aliases.setdefault(s["ip"], []).append(sname + SVC_SUFFIX)
        if aliases:
            spec["hostAliases"] = [{"ip": ip, "hostnames": hs} for ip, hs in sorted(aliases.items())]
        for c in spec.get("initContainers", []) + spec["containers"]:
            img = c["image"]
            if o["tag"] and re.match(r"^vmesh(-rvp-nginx)?:0\.1\.0$", img):
                c["image"] = img.split(":")[0] + ":" + o["tag"]
            elif img.startswith("registry.example/"):
                listen = next((e["value"] for e in c.get("env", []) if e["name"] == "LISTEN_ADDR"), None)
                if not listen:
                    die("%s %s: app %s has no LISTEN_ADDR for the stand-in" % (kind, name, c["name"]))
                c["image"] = "vmesh:" + (o["tag"] or "0.1.0")
                c["command"] = ["/bin/sh", "-c",
                                'echo "$APP_IMAGE in $HOSTNAME" > /www/hello.txt && '
                                'exec vmesh rvp serve --root /www --listen "$LISTEN_ADDR"']
                c["env"] = c.get("env", []) + [{"name": "APP_IMAGE", "value": img}]
                c.setdefault("volumeMounts", []).append({"name": "stand-in-www", "mountPath": "/www"})
                spec.setdefault("volumes", []).append({"name": "stand-in-www", "emptyDir": {"sizeLimit": "1Mi"}})
                note("%s %s: app %s (%s) is a stand-in: vmesh rvp serve on %s" % (kind, name, c["name"], img, listen))
            if "args" in c:
                c["args"] = [fix_service_ports(a) for a in c["args"]]
        for v in spec.get("volumes", []):
            if "secret" in v:
                sv = v.pop("secret")
                v["configMap"] = {"name": sv["secretName"]}
                for k in ("items", "defaultMode", "optional"):
                    if k in sv:
                        v["configMap"][k] = sv[k]
        for c in spec.get("initContainers", []) + spec["containers"]:
            named = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
            for pr in ("readinessProbe", "livenessProbe", "startupProbe"):
                for h in ("httpGet", "tcpSocket"):
                    port = c.get(pr, {}).get(h, {}).get("port")
                    if isinstance(port, str):
                        c[pr][h]["port"] = named[port]
            if c.pop("ports", None):
                note("%s %s: container %s: ports not published on the host" % (kind, name, c["name"]))
        if name in o["psa"]:
            sec = name + "-psa-sim"
            files = read_dir(o["psa"].pop(name))
            for k in ("iak.pem", "claims.json", "workload"):
                if k not in files:
                    die("--psa-sim %s: %s missing" % (name, k))
            out.append({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": sec, "namespace": d["metadata"].get("namespace", "default")},
                        "data": {k: v.decode() for k, v in files.items()}})
            sidecar = next((c for c in spec["containers"] if c.get("args", [None])[0] == "proxy"), None)
            if sidecar is None:
                die("--psa-sim %s: no vmesh proxy container" % name)
            sidecar.setdefault("volumeMounts", []).append({"name": "psa-sim", "mountPath": PSA_MOUNT, "readOnly": True})
            spec["volumes"].append({"name": "psa-sim", "configMap": {"name": sec}})
            # The proxy configuration: its ConfigMap is rewritten below.
            cfg = next(v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v)
            psa_cfgs[cfg] = name
            for c in spec["containers"]:
                for r in ("limits", "requests"):
                    res = c.get("resources", {}).get(r, {})
                    for k in [k for k in res if k.startswith("smarter-devices/")]:
                        del res[k]
            note("%s %s: attests with psa-sim (ConfigMap %s), not the node's TPM" % (kind, name, sec))
        if kind == "Pod":
            expand_args(d)
            out.append(d)
            continue
        n = d["spec"].get("replicas", 1)
        for i in range(n):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "%s-%d" % (name, i), "namespace": d["metadata"].get("namespace", "default"),
                                "labels": d["spec"]["template"]["metadata"].get("labels", {})},
                   "spec": copy.deepcopy(spec)}
            ps = pod["spec"]
            for v in ps.get("volumes", []):
                if "emptyDir" in v:
                    old, v["name"] = v["name"], "%s-%s" % (pod["metadata"]["name"], v["name"])
                    for c in ps.get("initContainers", []) + ps["containers"]:
                        for m in c.get("volumeMounts", []):
                            if m["name"] == old:
                                m["name"] = v["name"]
            expand_args(pod)
            out.append(pod)
        note("Deployment %s: %d Pod(s) %s" % (name, n, ", ".join("%s-%d" % (name, i) for i in range(n))))

    # The proxy configurations of --psa-sim workloads.
    for d in out:
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] in psa_cfgs:
            for k, v in d["data"].items():
                if not k.endswith(".yaml"):
                    continue
                cfg = yaml.safe_load(v)
                if "identity" not in cfg:
                    continue
                modes = cfg.get("attester", {}).get("modes")
                cfg["attester"] = {"platform": "psa-sim", "options": {
                    "iak": PSA_MOUNT + "/iak.pem", "claims": PSA_MOUNT + "/claims.json",
                    "measure": ["workload=" + PSA_MOUNT + "/workload"]}}
                if modes:
                    cfg["attester"]["modes"] = modes
                for r in cfg.get("verifier", {}).get("rvps", []):
                    if "schemes" in r:
                        r["schemes"] = ["psa" if s == "tpm2" else s for s in r["schemes"]]
                d["data"][k] = yaml.safe_dump(cfg, sort_keys=False)
    if o["psa"]:
        die("--psa-sim: no such workload: " + ", ".join(o["psa"]))
    for n in list(o["data"]) + list(o["rdata"]):
        if n not in used_data and keep_names is None:
            die("--data %s: no such ConfigMap or Secret" % n)
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


def expand_args(pod):
    """$(VAR) in command and args, from the container's env (Kubernetes
    expands them; podman 4.3 passes them on as they are)."""
    meta = pod["metadata"]
    for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
        env = {}
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            else:
                path = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                if path == "metadata.name":
                    env[e["name"]] = meta["name"]
                elif path == "metadata.namespace":
                    env[e["name"]] = meta.get("namespace", "default")
        for k in ("command", "args"):
            if k in c:
                new = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), a)
                       for a in c[k]]
                if new != c[k]:
                    note("Pod %s: container %s: $(VAR) in %s expanded" % (meta["name"], c["name"], k))
                    c[k] = new


psa_cfgs = {}
if __name__ == "__main__":
    main(sys.argv[1:])

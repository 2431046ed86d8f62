//! Differential test against `kubectl kustomize` on kustomizations nobody wrote by hand: a
//! seeded generator combines a base (workloads, RBAC, generators, references between them) and
//! an overlay (prefix/suffix, namespace, labels with and without selectors, annotations,
//! images, replicas, generator merges, strategic-merge and JSON 6902 patches with several kinds
//! of targets, replacements, components, built-in transformer plugins under `transformers:`)
//! at random, and both renderers build the result.
//! The outputs must be byte-identical, and where kubectl refuses a build we must refuse it too.
//!
//! Skipped when `kubectl` is not on PATH (CI installs it). `GITOPS_DIFF_CASES` sets how many
//! cases (default 120) and `GITOPS_DIFF_SEED` the first seed; a failing case is written to a
//! directory named in the failure, to reproduce with `kubectl kustomize DIR/overlay`.
//!
//! The kustomization files are written with the scalars Kustomize's go-yaml v2 reads its own
//! way (YAML 1.1 booleans such as `yes` and `on`, `~`, dates, numbers with `_`), and the field
//! names in other cases than their own, which Go's JSON decoding accepts.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use gitops_core::DirTree;
use gitops_render::Kustomize;

/// xorshift64*: a small deterministic generator, so that a seed names a case forever.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The files of one case: path to text.
type Files = Vec<(String, String)>;

fn base(rng: &mut Rng, files: &mut Files) {
    let mut resources = Vec::new();
    let mut add = |files: &mut Files, name: &str, text: String| {
        resources.push(name.to_string());
        files.push((format!("base/{name}"), text));
    };
    let image = rng.pick(&[
        "nginx:1.25",
        "nginx",
        "registry.example.com/team/nginx:2.0",
        "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ]);
    add(
        files,
        "deployment.yaml",
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      serviceAccountName: sa\n      containers:\n      - name: web\n        image: {image}\n        envFrom:\n        - configMapRef:\n            name: cfg\n        env:\n        - name: PASSWORD\n          valueFrom:\n            secretKeyRef:\n              name: sec\n              key: password\n        ports:\n        - containerPort: 8080\n          name: http\n        volumeMounts:\n        - name: config\n          mountPath: /etc/web\n      - name: sidecar\n        image: busybox:1.36\n      volumes:\n      - name: config\n        configMap:\n          name: cfg\n"
        ),
    );
    add(
        files,
        "service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: http\n".into(),
    );
    if rng.chance(60) {
        add(files, "sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n".into());
    }
    if rng.chance(50) {
        add(
            files,
            "rbac.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\nrules:\n- apiGroups: [\"\"]\n  resources: [\"configmaps\"]\n  verbs: [\"get\"]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: reader\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: reader\nsubjects:\n- kind: ServiceAccount\n  name: sa\n".into(),
        );
    }
    if rng.chance(40) {
        add(
            files,
            "statefulset.yaml",
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: web\n  replicas: 2\n  selector:\n    matchLabels:\n      app: db\n  template:\n    metadata:\n      labels:\n        app: db\n    spec:\n      containers:\n      - name: db\n        image: postgres:16\n        volumeMounts:\n        - name: data\n          mountPath: /data\n  volumeClaimTemplates:\n  - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources:\n        requests:\n          storage: 1Gi\n".into(),
        );
    }
    if rng.chance(40) {
        add(
            files,
            "cronjob.yaml",
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: job\nspec:\n  schedule: \"*/5 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: job\n            image: busybox:1.36\n            envFrom:\n            - configMapRef:\n                name: cfg\n".into(),
        );
    }
    if rng.chance(40) {
        add(
            files,
            "ingress.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n  - host: web.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: web\n            port:\n              number: 80\n".into(),
        );
    }
    if rng.chance(30) {
        add(
            files,
            "hpa.yaml",
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  minReplicas: 1\n  maxReplicas: 5\n".into(),
        );
    }
    let mut k = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for r in &resources {
        let _ = writeln!(k, "- {r}");
    }
    let _ = write!(
        k,
        "configMapGenerator:\n- name: cfg\n  literals:\n  - LOG_LEVEL={}\n  - MODE=base\n",
        rng.pick(&["info", "debug", "\"true\"", "0755"])
    );
    if rng.chance(20) {
        let _ = writeln!(k, "  options:\n    disableNameSuffixHash: {}", rng.pick(&["true", "yes", "on", "Y", "True"]));
    }
    k.push_str("secretGenerator:\n- name: sec\n  literals:\n  - password=s3cret\n");
    if rng.chance(30) {
        k.push_str("  type: Opaque\n");
    }
    if rng.chance(30) {
        let _ = writeln!(k, "namePrefix: {}", rng.pick(&["base-", "b-"]));
    }
    if rng.chance(30) {
        let _ = write!(k, "labels:\n- pairs:\n    tier: {}\n", rng.pick(&["backend", "web", "~", "2024-01-01"]));
        if rng.chance(50) {
            let _ = writeln!(k, "  includeSelectors: {}", rng.pick(&["true", "yes", "On"]));
        }
    }
    files.push(("base/kustomization.yaml".into(), k));
}

fn overlay(rng: &mut Rng, files: &mut Files) {
    let mut k =
        String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../base\n");
    if rng.chance(50) {
        let _ = writeln!(k, "{}: {}", rng.pick(&["namePrefix", "nameprefix"]), rng.pick(&["prod-", "staging-", "x-"]));
    }
    if rng.chance(40) {
        let _ = writeln!(k, "nameSuffix: {}", rng.pick(&["-v2", "-eu"]));
    }
    if rng.chance(60) {
        let _ = writeln!(k, "namespace: {}", rng.pick(&["prod", "team-a"]));
    }
    match rng.below(4) {
        0 => {
            let _ = write!(k, "commonLabels:\n  env: {}\n", rng.pick(&["prod", "staging"]));
        }
        1 => {
            let _ = write!(k, "labels:\n- pairs:\n    env: {}\n", rng.pick(&["prod", "staging"]));
            if rng.chance(50) {
                let _ = writeln!(
                    k,
                    "  {}: {}",
                    rng.pick(&["includeSelectors", "IncludeSelectors"]),
                    rng.pick(&["true", "y", "off"])
                );
            }
            if rng.chance(50) {
                let _ = writeln!(k, "  includeTemplates: {}", rng.pick(&["true", "YES", "no"]));
            }
        }
        _ => {}
    }
    if rng.chance(40) {
        let _ = write!(
            k,
            "commonAnnotations:\n  owner: {}\n",
            rng.pick(&["team-a", "\"42\"", "\"true\"", "~", "2024-01-01", "\"yes\"", "2001-12-14 21:59:43.10"])
        );
    }
    if rng.chance(60) {
        k.push_str("images:\n");
        match rng.below(4) {
            0 => k.push_str("- name: nginx\n  newTag: \"1.27\"\n"),
            1 => k.push_str("- name: nginx\n  newName: mirror.example.com/nginx\n"),
            2 => k.push_str(
                "- name: nginx\n  digest: sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
            ),
            _ => k.push_str("- name: busybox\n  newName: busybox\n  newTag: \"1.37\"\n"),
        }
    }
    if rng.chance(40) {
        let _ = write!(k, "replicas:\n- name: {}\n  count: {}\n", rng.pick(&["web", "db"]), rng.below(5) + 1);
    }
    if rng.chance(50) {
        let behavior = rng.pick(&["merge", "replace"]);
        let _ = write!(k, "configMapGenerator:\n- name: cfg\n  behavior: {behavior}\n  literals:\n  - MODE=overlay\n");
    }
    let mut patches = Vec::new();
    if rng.chance(50) {
        files.push((
            "overlay/resources.yaml".into(),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        resources:\n          limits:\n            memory: 512Mi\n        env:\n        - name: EXTRA\n          value: \"1\"\n".into(),
        ));
        patches.push("- path: resources.yaml\n".to_string());
    }
    if rng.chance(40) {
        let target = rng.pick(&[
            "    kind: Deployment\n    name: web\n",
            "    kind: Deployment\n",
            "    labelSelector: app=web\n",
            "    group: apps\n    version: v1\n    kind: Deployment\n",
            "    name: w.*\n",
        ]);
        let op = rng.pick(&[
            "- op: add\n  path: /metadata/annotations\n  value:\n    patched: \"yes\"\n",
            "- op: replace\n  path: /metadata/labels/app\n  value: web2\n",
            "- op: add\n  path: /metadata/labels/patched\n  value: \"true\"\n",
        ]);
        let inline: String = op.lines().map(|l| format!("    {l}\n")).collect();
        patches.push(format!("- target:\n{target}  patch: |-\n{}", inline.trim_end_matches('\n').to_string() + "\n"));
    }
    if rng.chance(30) {
        patches.push(
            "- patch: |-\n    apiVersion: v1\n    kind: Service\n    metadata:\n      name: web\n    spec:\n      type: NodePort\n".into(),
        );
    }
    if !patches.is_empty() {
        k.push_str("patches:\n");
        for p in patches {
            k.push_str(&p);
        }
    }
    if rng.chance(30) {
        k.push_str("replacements:\n- source:\n    kind: ConfigMap\n    name: cfg\n    fieldPath: data.LOG_LEVEL\n  targets:\n  - select:\n      kind: Deployment\n    fieldPaths:\n    - spec.template.metadata.annotations.log-level\n    options:\n      create: true\n");
    }
    if rng.chance(30) {
        files.push((
            "component/kustomization.yaml".into(),
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  component: enabled\npatches:\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: web\n    spec:\n      template:\n        spec:\n          containers:\n          - name: sidecar\n            image: busybox:1.36\n            args: [\"--verbose\"]\n".into(),
        ));
        k.push_str("components:\n- ../component\n");
    }
    plugins(rng, files, &mut k);
    files.push(("overlay/kustomization.yaml".into(), k));
}

/// Built-in plugin configurations under `transformers:`, in files: their fields written with
/// YAML 1.1 scalars and in other letter cases too, and several plugins in one list, which run
/// in the listed order over the overlay's resources.
fn plugins(rng: &mut Rng, files: &mut Files, k: &mut String) {
    if !rng.chance(35) {
        return;
    }
    let value = |rng: &mut Rng| rng.pick(&["web", "yes", "0o17", "2024-01-01", "\"on\"", "~", "1_000", "\"7\"", "off"]);
    let mut listed = Vec::new();
    for i in 0..1 + rng.below(3) {
        let head = format!("apiVersion: builtin\nmetadata:\n  name: p{i}\n");
        let body = match rng.below(7) {
            0 => format!(
                "kind: PrefixSuffixTransformer\n{}: {}\n{}:\n- path: metadata/name\n",
                rng.pick(&["prefix", "Prefix"]),
                rng.pick(&["pre-", "yes-", "\"1-\""]),
                rng.pick(&["fieldSpecs", "fieldspecs"])
            ),
            1 => format!(
                "kind: PrefixSuffixTransformer\nsuffix: {}\nfieldSpecs:\n- path: metadata/name\n  kind: {}\n",
                rng.pick(&["-s", "-on"]),
                rng.pick(&["Deployment", "ConfigMap", "Service"])
            ),
            2 => format!(
                "kind: LabelTransformer\nlabels:\n  tier: {}\nfieldSpecs:\n- path: metadata/labels\n  create: {}\n{}",
                value(rng),
                rng.pick(&["true", "yes", "on"]),
                if rng.chance(50) {
                    "- path: spec/selector/matchLabels\n  kind: Deployment\n  create: true\n"
                } else {
                    ""
                }
            ),
            3 => format!(
                "kind: AnnotationsTransformer\nannotations:\n  note: {}\n  Other: {}\nfieldSpecs:\n- path: metadata/annotations\n  create: true\n",
                value(rng),
                value(rng)
            ),
            4 => format!(
                "kind: ImageTagTransformer\nimageTag:\n  name: {}\n  {}: {}\n",
                rng.pick(&["nginx", "busybox"]),
                rng.pick(&["newTag", "newtag"]),
                rng.pick(&["\"2.0\"", "latest", "v1_2"])
            ),
            5 => format!(
                "kind: ReplicaCountTransformer\nreplica:\n  name: {}\n  count: {}\nfieldSpecs:\n- path: spec/replicas\n  create: true\n  kind: Deployment\n",
                rng.pick(&["web", "db"]),
                rng.pick(&["2", "0x3", "1_0"])
            ),
            _ => format!(
                "kind: NamespaceTransformer\nmetadata:\n  name: ns{i}\n  namespace: {}\nunsetOnly: {}\n",
                rng.pick(&["plugin-ns", "other"]),
                rng.pick(&["false", "true", "no"])
            ),
        };
        // The namespace transformer's metadata replaces the head's.
        let text = if body.contains("NamespaceTransformer") {
            format!("apiVersion: builtin\n{body}")
        } else {
            format!("{head}{body}")
        };
        files.push((format!("overlay/plugin{i}.yaml"), text));
        listed.push(format!("- plugin{i}.yaml\n"));
    }
    k.push_str("transformers:\n");
    for l in listed {
        k.push_str(&l);
    }
}

fn case(seed: u64) -> Files {
    let mut rng = Rng::new(seed);
    let mut files = Vec::new();
    base(&mut rng, &mut files);
    overlay(&mut rng, &mut files);
    files
}

fn write(dir: &Path, files: &Files) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn random_kustomizations_build_as_kubectl_builds_them() {
    if Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        eprintln!("kubectl is not on PATH: the differential test is skipped");
        return;
    }
    let n: u64 = std::env::var("GITOPS_DIFF_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    let first: u64 = std::env::var("GITOPS_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let (mut agreed, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for seed in first..first + n {
        let files = case(seed);
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &files);
        let theirs = Command::new("kubectl").arg("kustomize").arg(dir.path().join("overlay")).output().unwrap();
        let tree = DirTree::new(dir.path()).unwrap();
        let ours = Kustomize::default()
            .build(&tree, "overlay")
            .map(|objs| gitops_core::yaml::to_yaml_stream_folded(&objs, 80));
        let verdict = match (theirs.status.success(), &ours) {
            (true, Ok(text)) if text.as_bytes() == theirs.stdout.as_slice() => None,
            (true, Ok(text)) => Some(format!(
                "outputs differ:\n--- ours\n{text}\n--- kubectl\n{}",
                String::from_utf8_lossy(&theirs.stdout)
            )),
            (true, Err(e)) => Some(format!("we refused what kubectl builds: {e}")),
            (false, Ok(_)) => {
                Some(format!("kubectl refused ({}) what we built", String::from_utf8_lossy(&theirs.stderr).trim()))
            }
            (false, Err(_)) => {
                refused += 1;
                None
            }
        };
        match verdict {
            None => agreed += 1,
            Some(why) => {
                let kept = std::env::temp_dir().join(format!("gitops-diff-{seed}"));
                let _ = std::fs::remove_dir_all(&kept);
                write(&kept, &files);
                failures.push(format!("seed {seed} (kept in {}): {why}", kept.display()));
            }
        }
    }
    eprintln!("{agreed} of {n} random kustomizations agree with kubectl ({refused} refused by both)");
    if std::env::var_os("GITOPS_DIFF_LIST").is_some() {
        for f in &failures {
            eprintln!("{}", f.lines().next().unwrap_or(""));
        }
    }
    assert!(failures.is_empty(), "{} of {n} differ; the first:\n{}", failures.len(), failures[0]);
    assert!(refused < n / 2, "most cases were refused by both: the generator makes invalid kustomizations");
}

#!/usr/bin/env node
/**
 * werift drift, caught early: run the werift suite (test/werift/) against the newest published `werift`
 * and `werift-ice`, before users do. The adapter patches werift internals; a release that renames one
 * must fail here (`ERR_UNSUPPORTED_WERIFT`, or a test), not in a user's app.
 *
 *   node scripts/werift-next.mjs --install  `npm view` the newest versions, install them into a scratch folder
 *                                           (needs the npm registry)
 *   node scripts/werift-next.mjs --test     run the suite against them (vitest.werift-next.config.ts; no network)
 *   node scripts/werift-next.mjs            both
 *
 * The scratch folder is $WERIFT_NEXT_DIR, default node_modules/.cache/werift-next (`npm ci` clears it). Two
 * phases so CI can install outside its loopback-only network namespace and test inside it. The newest
 * versions are tested even when they are the pinned devDependencies: that keeps the install and the
 * aliasing exercised on every run, so they still work the day a release comes.
 *
 * Prints one verdict line last, `werift-next: …`. Exit status:
 *   0  the suite passed; or it failed on a release outside the declared range (package.json
 *      peerDependencies): news to act on before widening the range, not a break of a promise made to users
 *   1  the suite failed on a release inside the declared range: a regression users will hit
 *   2  nothing was tested: the registry or the install failed, or --test found no install
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIR = resolve(REPO, process.env.WERIFT_NEXT_DIR ?? "node_modules/.cache/werift-next");
const PREFIX = join(DIR, "registry"); // npm's project; a subfolder, so DIR's own files don't resolve into it
const STATE = join(DIR, "state.json"); // written by --install: what it installed
const ALIAS_CHECK = join(DIR, "alias-check.setup.mjs"); // vitest setup file, see aliasCheckSource()
const RESOLVED = join(DIR, "resolved.json"); // written by that setup file, inside the test run
const RESULTS = join(DIR, "results.json"); // vitest's JSON reporter
const PACKAGES = ["werift", "werift-ice"];
/** `npm view` and `npm install` against a slow registry; CI must not hang on it. */
const NPM_TIMEOUT_MS = 5 * 60_000;
/** The werift suite takes 1–2 minutes on a busy 2-core machine; a hang must end with a verdict. */
const SUITE_TIMEOUT_MS = 20 * 60_000;

const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));

class NotRun extends Error {}

function verdict(line, code) {
  console.log(`\nwerift-next: ${line}`);
  process.exit(code);
}

function npm(args) {
  return execFileSync("npm", args, {
    cwd: REPO,
    encoding: "utf8",
    timeout: NPM_TIMEOUT_MS,
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

function install() {
  const latest = {};
  for (const name of PACKAGES) {
    try {
      latest[name] = npm(["view", name, "version"]);
    } catch (err) {
      throw new NotRun(`\`npm view ${name} version\` failed (${err.message.split("\n")[0]})`, { cause: err });
    }
    if (!parseVersion(latest[name])) throw new NotRun(`\`npm view ${name} version\` said "${latest[name]}"`);
  }
  console.log(`werift-next: newest published: ${PACKAGES.map((n) => `${n} ${latest[n]}`).join(", ")}`);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(PREFIX, { recursive: true });
  writeFileSync(join(PREFIX, "package.json"), `${JSON.stringify({ private: true }, null, 2)}\n`);
  const specs = PACKAGES.map((n) => `${n}@${latest[n]}`);
  try {
    // --ignore-scripts: werift and its dependencies are plain JS; nothing here needs to run at install.
    npm(["install", "--prefix", PREFIX, "--no-audit", "--no-fund", "--ignore-scripts", ...specs]);
  } catch (err) {
    throw new NotRun(`\`npm install ${specs.join(" ")}\` failed (${err.message.split("\n")[0]})`, {
      cause: err,
    });
  }
  const installed = Object.fromEntries(PACKAGES.map((n) => [n, installedVersion(n)]));
  for (const n of PACKAGES) {
    if (installed[n] !== latest[n]) throw new NotRun(`asked npm for ${n}@${latest[n]}, got ${installed[n]}`);
  }
  const entries = Object.fromEntries(PACKAGES.map((n) => [n, esmEntry(n)]));
  writeFileSync(ALIAS_CHECK, aliasCheckSource(entries));
  writeFileSync(STATE, `${JSON.stringify({ installed, entries, at: new Date().toISOString() }, null, 2)}\n`);
}

/** The file Node loads for `import "<name>"` in the scratch project (werift: its ESM bundle, lib/index.mjs). */
function esmEntry(name) {
  const url = execFileSync(
    process.execPath,
    ["--input-type=module", "-e", `console.log(import.meta.resolve(${JSON.stringify(name)}))`],
    { cwd: PREFIX, encoding: "utf8" },
  ).trim();
  return fileURLToPath(url);
}

function installedVersion(name) {
  return JSON.parse(readFileSync(join(PREFIX, "node_modules", name, "package.json"), "utf8")).version;
}

/**
 * The setup file of vitest.werift-next.config.ts, run in each test worker before the test files. It imports
 * each package by its bare name, as the tests do (the config's alias applies), and by the scratch entry's
 * path: one module, so one `Connection`, means the tests get the scratch copy. It lies outside PREFIX, so
 * without the alias its bare imports would resolve to the repo's pinned werift.
 */
function aliasCheckSource(entries) {
  const checks = PACKAGES.map((n) => {
    const file = JSON.stringify(entries[n]);
    const manifest = JSON.stringify(join(PREFIX, "node_modules", n, "package.json"));
    return `  ["${n}", await import("${n}"), await import(${file}), ${file}, ${manifest}],`;
  }).join("\n");
  return `// Generated by scripts/werift-next.mjs --install: proves in each test worker that the aliases took effect.
import { readFileSync, writeFileSync } from "node:fs";

const checks = [
${checks}
];
const resolved = {};
for (const [name, bare, scratch, file, manifest] of checks) {
  if (bare.Connection === undefined || bare.Connection !== scratch.Connection) {
    throw new Error(\`werift-next: "\${name}" does not resolve to \${file} in the test run (the alias did not take effect)\`);
  }
  resolved[name] = JSON.parse(readFileSync(manifest, "utf8")).version;
}
writeFileSync(${JSON.stringify(RESOLVED)}, \`\${JSON.stringify(resolved)}\\n\`);
`;
}

function runSuite() {
  if (!existsSync(STATE) || !existsSync(ALIAS_CHECK)) {
    throw new NotRun(`no install in ${DIR}: run \`node scripts/werift-next.mjs --install\` first`);
  }
  const { installed } = JSON.parse(readFileSync(STATE, "utf8"));
  rmSync(RESOLVED, { force: true });
  rmSync(RESULTS, { force: true });

  const range = Object.fromEntries(PACKAGES.map((n) => [n, pkg.peerDependencies[n]]));
  const inside = PACKAGES.every((n) => satisfies(installed[n], range[n]));
  const pinned = PACKAGES.every((n) => installed[n] === pkg.devDependencies[n]);
  const what =
    PACKAGES.map((n) => `${n} ${installed[n]}`).join(", ") +
    (pinned ? " (= the pinned devDependencies: no newer release)" : "") +
    (inside
      ? " — inside the declared range"
      : ` — outside the declared range (${PACKAGES.map((n) => `${n} ${range[n]}`).join(", ")})`);
  console.log(`werift-next: testing ${what}`);

  const started = Date.now();
  const run = spawnSync(
    process.execPath,
    [join(REPO, "node_modules/vitest/vitest.mjs"), "run", "--config", "vitest.werift-next.config.ts"],
    { cwd: REPO, stdio: "inherit", timeout: SUITE_TIMEOUT_MS, env: { ...process.env, WERIFT_NEXT_DIR: DIR } },
  );
  const took = `${Math.round((Date.now() - started) / 1000)} s`;
  const outcome = suiteOutcome(run, installed);

  if (outcome.passed) verdict(`${what} — suite PASSED (${outcome.summary}, ${took})`, 0);
  if (inside) verdict(`${what} — suite FAILED: ${outcome.summary} (${took}) — a regression`, 1);
  verdict(
    `${what} — suite FAILED: ${outcome.summary} (${took}) — not a regression: that release is not declared supported`,
    0,
  );
}

/** What the run proved: the JSON report's counts, and the versions the setup file saw inside the run. */
function suiteOutcome(run, installed) {
  if (run.error) return { passed: false, summary: `vitest did not finish (${run.error.message})` };
  if (!existsSync(RESULTS)) return { passed: false, summary: `vitest exited ${run.status} without a report` };
  const report = JSON.parse(readFileSync(RESULTS, "utf8"));
  const resolved = existsSync(RESOLVED) ? JSON.parse(readFileSync(RESOLVED, "utf8")) : undefined;
  const seen = resolved && PACKAGES.map((n) => `${n} ${resolved[n]}`).join(", ");
  if (resolved === undefined || PACKAGES.some((n) => resolved[n] !== installed[n])) {
    return {
      passed: false,
      summary: `the run did not use the scratch packages (it saw: ${seen ?? "nothing"})`,
    };
  }
  console.log(`werift-next: inside the test run, werift resolved to ${seen}`);
  if (run.status === 0 && report.success && report.numFailedTests === 0) {
    return { passed: true, summary: `${report.numPassedTests} tests` };
  }
  // A file that fails before its tests run (an import, a beforeAll) has a message and no failed test.
  const brokenFiles = report.testResults.filter(
    (f) => f.status === "failed" && f.assertionResults.every((t) => t.status !== "failed"),
  );
  const failed = [
    ...brokenFiles.map((f) => ({ name: relative(REPO, f.name), messages: [f.message] })),
    ...report.testResults.flatMap((f) =>
      f.assertionResults
        .filter((t) => t.status === "failed")
        .map((t) => ({ name: t.fullName, messages: t.failureMessages })),
    ),
  ];
  return {
    passed: false,
    summary: [
      `${report.numFailedTests} of ${report.numTotalTests} tests failed`,
      brokenFiles.length > 0 ? `${brokenFiles.length} files did not run` : "",
      // The adapter's feature detection rejected this werift: the test names which internal is gone.
      failed.some((f) => f.messages.some((m) => String(m).includes("UnsupportedWeriftError")))
        ? "UnsupportedWeriftError among the failures"
        : "",
      failed[0] ? `first: ${failed[0].name}` : `vitest exited ${run.status}`,
    ]
      .filter(Boolean)
      .join(", "),
  };
}

// --- versions and ranges: the comparator subset package.json uses (">=0.24.4 <0.26", "||") ---------

function parseVersion(text) {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?$/.exec(text);
  return m && { parts: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], pre: m[4] };
}

function compare(a, b) {
  for (let i = 0; i < 3; i++) if (a.parts[i] !== b.parts[i]) return a.parts[i] - b.parts[i];
  if (a.pre === b.pre) return 0;
  if (a.pre === undefined) return 1; // 1.0.0 > 1.0.0-beta
  if (b.pre === undefined) return -1;
  return a.pre < b.pre ? -1 : 1;
}

function satisfies(version, range) {
  const v = parseVersion(version);
  if (!v || typeof range !== "string") throw new NotRun(`cannot compare "${version}" with range "${range}"`);
  if (v.pre !== undefined) return false; // as semver: a prerelease is outside a range naming none
  return range.split("||").some((set) =>
    set
      .trim()
      .split(/\s+/)
      .every((comparator) => {
        const m = /^(>=|<=|>|<)(.+)$/.exec(comparator);
        const bound = m && parseVersion(m[2]);
        if (!bound) throw new NotRun(`range "${range}": "${comparator}" is not a >=, <=, > or < comparator`);
        const c = compare(v, bound);
        return { ">=": c >= 0, "<=": c <= 0, ">": c > 0, "<": c < 0 }[m[1]];
      }),
  );
}

// --- main ----------------------------------------------------------------------------------------

const flag = process.argv[2];
if (process.argv.length > 3 || (flag !== undefined && flag !== "--install" && flag !== "--test")) {
  console.error("usage: node scripts/werift-next.mjs [--install | --test]");
  process.exit(2);
}
try {
  if (flag !== "--test") install();
  if (flag === "--install") verdict(`installed ${describeState()}; the suite runs with --test`, 0);
  runSuite();
} catch (err) {
  if (!(err instanceof NotRun)) throw err;
  verdict(`${err.message} — suite NOT RUN`, 2);
}

function describeState() {
  const { installed } = JSON.parse(readFileSync(STATE, "utf8"));
  return `${PACKAGES.map((n) => `${n} ${installed[n]}`).join(", ")} into ${relative(REPO, PREFIX)}`;
}

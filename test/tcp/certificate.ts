/**
 * A self-signed certificate made at test time (never checked in): an EC P-256 key and a one-day X.509
 * certificate for `localhost` and 127.0.0.1, by the `openssl` command line, with the SHA-256 of its
 * public key (SPKI) as Chromium's `--ignore-certificate-errors-spki-list` takes it.
 */
import { execFileSync } from "node:child_process";
import { createHash, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificate {
  key: string;
  cert: string;
  /** base64 SHA-256 of the DER SubjectPublicKeyInfo. */
  spki: string;
}

export function selfSignedCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "udpmux-cert-"));
  try {
    const keyFile = join(dir, "key.pem");
    const certFile = join(dir, "cert.pem");
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-keyout",
          keyFile,
          "-out",
          certFile,
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
    } catch (error) {
      throw new Error("making a test certificate needs the openssl command (apt-get install -y openssl)", {
        cause: error,
      });
    }
    const key = readFileSync(keyFile, "utf8");
    const cert = readFileSync(certFile, "utf8");
    const der = createPublicKey(cert).export({ type: "spki", format: "der" });
    return { key, cert, spki: createHash("sha256").update(der).digest("base64") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

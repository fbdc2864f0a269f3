// What the examples' command lines share: parsing (strict, with --help), and checks of the values with the
// message the library's own argument errors use (what was expected, what came).
import { isIP } from "node:net";
import { parseArgs } from "node:util";

/**
 * The values of `argv` (strict: an unknown option or a missing value throws) for `options`, plus `help`.
 * @param {string[]} argv
 * @param {import("node:util").ParseArgsConfig["options"]} options
 */
export function optionValues(argv, options) {
  return parseArgs({
    args: argv,
    strict: true,
    options: { ...options, help: { type: "boolean", default: false } },
  }).values;
}

/**
 * `values[name]` as an integer in [min, max]; a TypeError naming `--<name>` otherwise.
 * @param {Record<string, string | boolean | undefined>} values parseArgs' `values`
 */
export function integerOption(values, name, min, max) {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(
      `Expected \`--${name}\` to be an integer in [${min}, ${max}], got \`${values[name]}\``,
    );
  }
  return value;
}

/**
 * Throws a TypeError for the first of `names` that is given and is not an IP address.
 * @param {Record<string, string | boolean | undefined>} values parseArgs' `values`
 * @param {string[]} names
 */
export function checkIpOptions(values, names) {
  for (const name of names) {
    if (values[name] !== undefined && isIP(values[name]) === 0) {
      throw new TypeError(`Expected \`--${name}\` to be an IP address, got \`${values[name]}\``);
    }
  }
}

/**
 * `parse(argv)` of this process's arguments; when it throws, its message and `usage` go to stderr and the
 * process exits with code 2 (a usage error).
 * @template T
 * @param {(argv: string[]) => T} parse
 * @param {string} usage
 * @returns {T}
 */
export function parseCommandLine(parse, usage) {
  try {
    return parse(process.argv.slice(2));
  } catch (error) {
    console.error(`${error.message}\n${usage}`);
    process.exit(2);
  }
}

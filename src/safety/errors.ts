/**
 * Error classes of the safety layer. A configuration error names the file
 * and the field (dotted path) and says what to change; a frozen-guardrail
 * violation says what was attempted.
 */

export class SafetyConfigError extends Error {
  override name = 'SafetyConfigError';
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
    hint = 'fix the safety configuration',
  ) {
    super(`${file}: ${field}: ${problem} (${hint})`);
  }
}

export class ShieldInputError extends Error {
  override name = 'ShieldInputError';
}

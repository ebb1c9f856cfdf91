// Compose interpolation: substitute() on single strings, interpolateTree() on
// whole files (key paths in errors, type casts), and the dotenv dialect.
// The cases marked "compose-go" re-express, as data, the test tables of
// compose-spec/compose-go at e70e961c3a3acebf0800b882f1afb3dbf1fb74a2
// (template/template_test.go and interpolation/interpolation_test.go).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { substitute, interpolateTree, MissingRequiredError, InvalidTemplateError } from '../../src/compose/load/interpolate.ts';
import { parseEnvText } from '../../src/compose/load/env-file.ts';
import { ComposeError } from '../../src/compose/load/errors.ts';

// template/template_test.go: `defaults`.
const TEMPLATE_ENV: Record<string, string> = { FOO: 'first', BAR: '', JSON: '{"json":2}' };
const lookup = (env: Record<string, string>) => (n: string): string | undefined => (Object.hasOwn(env, n) ? env[n] : undefined);

// [template, expected] from template_test.go: TestEscaped, TestSubstituteNoMatch, TestUnescaped,
// TestNonBraced, TestNoValueNoDefault, TestValueNoDefault, TestNoValueWithDefault,
// TestEmptyValueWithSoftDefault … TestNonAlphanumericDefault, TestInterpolationExternalInterference,
// TestDefaultsWithNestedExpansion, TestDefaultsForMandatoryVariables, TestPrecedence,
// TestNoValueWithCurlyBracesDefault, TestValueWithCurlyBracesDefault, TestLazyDefault*.
const TEMPLATE_CASES: Array<[string, string]> = [
  ['$${foo}', '${foo}'],
  ['foo', 'foo'],
  ['a $ string', 'a $ string'],
  ['^REGEX$', '^REGEX$'],
  ['$}', '$}'],
  ['$', '$'],
  ['$FOO-bar', 'first-bar'],
  ['This ${missing} var', 'This  var'],
  ['This ${BAR} var', 'This  var'],
  ['This $FOO var', 'This first var'],
  ['This ${FOO} var', 'This first var'],
  ['ok ${missing:-def}', 'ok def'],
  ['ok ${missing-def}', 'ok def'],
  ['${A:+${A},}B', 'B'],
  ['${A:-${B}}', ''],
  ['ok ${BAR:-def}', 'ok def'],
  ['ok ${FOO:-def}', 'ok first'],
  ['ok ${BAR-def}', 'ok '],
  ['ok ${UNSET_VAR:+presence_value}', 'ok '],
  ['ok ${UNSET_VAR+presence_value}', 'ok '],
  ['ok ${FOO:+presence_value}', 'ok presence_value'],
  ['ok ${FOO+presence_value}', 'ok presence_value'],
  ['ok ${BAR+presence_value}', 'ok presence_value'],
  ['ok ${BAR:+presence_value}', 'ok '],
  ['ok ${BAR:-/non:-alphanumeric}', 'ok /non:-alphanumeric'],
  ['-ok ${BAR:-defaultValue}', '-ok defaultValue'],
  ['+ok ${UNSET:-${BAR-defaultValue}}', '+ok '],
  ['-ok ${FOO:-defaultValue}', '-ok first'],
  [':-ok ${UNSET-defaultValue}', ':-ok defaultValue'],
  [':-ok ${BAR-defaultValue}', ':-ok '],
  [':?ok ${BAR-defaultValue}', ':?ok '],
  [':?ok ${BAR:-defaultValue}', ':?ok defaultValue'],
  [':+ok ${BAR:-defaultValue}', ':+ok defaultValue'],
  ['+ok ${BAR-defaultValue}', '+ok '],
  ['?ok ${BAR:-defaultValue}', '?ok defaultValue'],
  ['ok ${UNSET_VAR-$FOO}', 'ok first'],
  ['ok ${UNSET_VAR-${FOO}}', 'ok first'],
  ['ok ${UNSET_VAR-${FOO} ${FOO}}', 'ok first first'],
  ['ok ${BAR:-$FOO}', 'ok first'],
  ['ok ${BAR:-${FOO}}', 'ok first'],
  ['ok ${BAR:-${FOO} ${FOO}}', 'ok first first'],
  ['ok ${BAR+$FOO}', 'ok first'],
  ['ok ${BAR+$FOO ${FOO:+second}}', 'ok first second'],
  ['ok ${FOO:?err}', 'ok first'],
  ['ok ${FOO?err}', 'ok first'],
  ['ok ${BAR?err}', 'ok '],
  ['${UNSET_VAR-myerror?msg}', 'myerror?msg'],
  ['${FOO?bar-baz}', 'first'],
  ['${BAR:-default_value_for_empty_var}', 'default_value_for_empty_var'],
  ['${UNSET_VAR-default_value_for_unset_var}', 'default_value_for_unset_var'],
  ['ok ${missing:-{"json":1}}', 'ok {"json":1}'],
  ['ok ${missing-{"json":1}}', 'ok {"json":1}'],
  ['ok ${JSON:-{"json":1}}', 'ok {"json":2}'],
  ['ok ${JSON-{"json":1}}', 'ok {"json":2}'],
];

// TestMandatoryVariableErrors, TestMandatoryVariableErrorsWithNestedExpansion, TestPrecedence.
const REQUIRED_CASES: Array<[string, string]> = [
  ['not ok ${UNSET_VAR:?Mandatory Variable Unset}', 'required variable UNSET_VAR is missing a value: Mandatory Variable Unset'],
  ['not ok ${BAR:?Mandatory Variable Empty}', 'required variable BAR is missing a value: Mandatory Variable Empty'],
  ['not ok ${UNSET_VAR:?}', 'required variable UNSET_VAR is missing a value'],
  ['not ok ${UNSET_VAR?Mandatory Variable Unset}', 'required variable UNSET_VAR is missing a value: Mandatory Variable Unset'],
  ['not ok ${UNSET_VAR?}', 'required variable UNSET_VAR is missing a value'],
  ['not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}', 'required variable UNSET_VAR is missing a value: Mandatory Variable first'],
  ['not ok ${UNSET_VAR?Mandatory Variable ${FOO}}', 'required variable UNSET_VAR is missing a value: Mandatory Variable first'],
  ['${UNSET_VAR?bar-baz}', 'required variable UNSET_VAR is missing a value: bar-baz'],
];

// TestInvalid.
const INVALID_CASES = ['${', '${}', '${ }', '${ foo}', '${foo }', '${foo!}'];

// TestSubstitutionFunctionChoice: the operator is the first one after the name.
const OPERATOR_CASES: Array<[string, string]> = [
  ['VARNAME:?val?ue', ':?'], ['VARNAME?val:?ue', '?'], ['VARNAME?va-lu+e:?e', '?'], ['VARNAME?va+lu-e:?e', '?'],
  ['VARNAME:-value', ':-'], ['VARNAME-va:-lu:?e', '-'], ['VARNAME-va+lu?e', '-'], ['VARNAME-va?lu+e', '-'],
  ['VARNAME:+va:?lu:-e', ':+'], ['VARNAME+va:+lue', '+'], ['VARNAME+va?lu-e', '+'], ['VARNAME+va-lu?e', '+'],
];

describe('substitute (compose-go template_test.go cases)', () => {
  for (const [tpl, want] of TEMPLATE_CASES) {
    test(`${tpl} → ${JSON.stringify(want)}`, () => {
      assert.equal(substitute(tpl, lookup(TEMPLATE_ENV)), want);
    });
  }
  for (const [tpl, message] of REQUIRED_CASES) {
    test(`${tpl} fails: ${message}`, () => {
      assert.throws(() => substitute(tpl, lookup(TEMPLATE_ENV)), (e: unknown) => e instanceof MissingRequiredError && e.message === message);
    });
  }
  for (const tpl of INVALID_CASES) {
    test(`${tpl} is an invalid template`, () => {
      assert.throws(() => substitute(tpl, lookup(TEMPLATE_ENV)), InvalidTemplateError);
    });
  }
  for (const [inner, op] of OPERATOR_CASES) {
    test(`\${${inner}} uses ${op}`, () => {
      // VARNAME unset, then set to "x": each operator's behaviour tells which one was chosen.
      const unset = (): string | Error => { try { return substitute(`\${${inner}}`, () => undefined); } catch (e) { return e as Error; } };
      const set = substitute(`\${${inner}}`, (n) => (n === 'VARNAME' ? 'x' : undefined));
      const rest = inner.slice('VARNAME'.length + op.length);
      if (op.endsWith('?')) {
        assert.ok(unset() instanceof MissingRequiredError);
        assert.equal((unset() as Error).message, `required variable VARNAME is missing a value: ${rest}`);
        assert.equal(set, 'x');
      } else if (op.endsWith('-')) {
        assert.equal(unset(), rest);
        assert.equal(set, 'x');
      } else {
        assert.equal(unset(), '');
        assert.equal(set, rest);
      }
    });
  }
  test('a default is only substituted (and warned about) when it is used', () => {
    const warned: string[] = [];
    assert.equal(substitute('${A:+${A},}B', () => undefined, (n) => warned.push(n)), 'B');
    assert.equal(warned.length, 0);
    assert.equal(substitute('${A:-${B}}', () => undefined, (n) => warned.push(n)), '');
    assert.deepEqual(warned, ['B']);
    assert.equal(substitute('${A?${B}}', (n) => (n === 'A' ? 'value' : undefined), (n) => warned.push(n)), 'value');
    assert.deepEqual(warned, ['B']);
  });
});

// interpolation/interpolation_test.go: `defaults` and TestValidUnexistentInterpolation /
// TestValidExistentInterpolation (the value of services.myservice.environment.TESTVAR).
describe('interpolateTree (compose-go interpolation_test.go cases)', () => {
  const unexistent: Array<[string, string, string?]> = [
    ['{{{ ${FOO:-foo_} }}}', '{{{ foo_ }}}'],
    ['{{{ ${FOO:-foo-bar-value} }}}', '{{{ foo-bar-value }}}'],
    ['{{{ ${FOO:-foo?bar?value} }}}', '{{{ foo?bar?value }}}'],
    ['{{{ ${FOO:-foo:?bar:?value} }}}', '{{{ foo:?bar:?value }}}'],
    ['{{{ ${FOO:-foo} ${BAR:-DEFAULT_VALUE} }}}', '{{{ foo DEFAULT_VALUE }}}'],
    ['{{{ ${BAR} }}}', '{{{  }}}'],
    ['${FOO:-baz} }}}', 'baz }}}'],
    ['${FOO-baz} }}}', 'baz }}}'],
    ['{{{ ${FOO:?foo_} }}}', '', 'foo_'],
    ['{{{ ${FOO:?foo-bar-value} }}}', '', 'foo-bar-value'],
    ['{{{ ${FOO:?foo} ${BAR:-DEFAULT_VALUE} }}}', '', 'foo'],
    ['${FOO:?foo} ${BAR:?bar}', '', 'foo'],
    ['${FOO:?baz} }}}', '', 'baz'],
    ['${FOO?baz} }}}', '', 'baz'],
    ['${FOO:-${BAR:-${ZOT:-qix}}}', 'qix'],
    ['${FOO:-${BAR:-x}_test_${BAR:-y}}', 'x_test_y'],
    ['${FOO:-${BAR:-x}_test}', 'x_test'],
    ['${FOO:-${BAR:-${ZOT:-x}}_test}', 'x_test'],
  ];
  const tree = (v: string) => ({ myservice: { environment: { TESTVAR: v } } });
  const run = (v: string, env: Record<string, string>) => interpolateTree(tree(v), { lookup: lookup(env), warn: () => {} });
  for (const [tpl, want, err] of unexistent) {
    test(`unset: ${tpl}`, () => {
      if (err) {
        assert.throws(() => run(tpl, {}), { message: `error while interpolating myservice.environment.TESTVAR: required variable FOO is missing a value: ${err}` });
      } else {
        assert.deepEqual(run(tpl, {}), tree(want));
      }
    });
  }
  const existent: Array<[string, string]> = [
    ['{{{ ${FOO:-foo_} }}}', '{{{ bar }}}'],
    ['{{{ ${FOO:-foo-bar-value} }}}', '{{{ bar }}}'],
    ['{{{ ${FOO:-foo} ${BAR:-DEFAULT_VALUE} }}}', '{{{ bar DEFAULT_VALUE }}}'],
    ['{{{ ${BAR} }}}', '{{{  }}}'],
    ['${FOO:-baz} }}}', 'bar }}}'],
    ['${FOO-baz} }}}', 'bar }}}'],
    ['{{{ ${FOO:-foo} ${USER:-bar} }}}', '{{{ bar jenny }}}'],
    ['{{{ ${USER} }}}', '{{{ jenny }}}'],
  ];
  for (const [tpl, want] of existent) {
    test(`set: ${tpl}`, () => {
      assert.deepEqual(run(tpl, { FOO: 'bar', USER: 'jenny' }), tree(want));
    });
  }
  test('TestInterpolate: images, volumes, nested mappings', () => {
    const env = { USER: 'jenny', FOO: 'bar', count: '5', REQUIRED: 'true' };
    const got = interpolateTree({ servicea: { image: 'example:${USER}', volumes: ['$FOO:/target'], logging: { driver: '${FOO}', options: { user: '$USER' } } } }, { lookup: lookup(env), warn: () => {} });
    assert.deepEqual(got, { servicea: { image: 'example:jenny', volumes: ['bar:/target'], logging: { driver: 'bar', options: { user: 'jenny' } } } });
  });
  test('TestInvalidInterpolation: the key and the template are named', () => {
    assert.throws(() => interpolateTree({ servicea: { image: '${' } }, { lookup: () => undefined, warn: () => {} }),
      { message: 'invalid interpolation format for servicea.image.\nYou may need to escape any $ with another $.\n${' });
  });
});

describe('interpolateTree: keys, casts, warnings', () => {
  test('keys are never interpolated; values at typed paths become numbers and booleans', () => {
    const got = interpolateTree({
      services: { web: { labels: { '$KEY': '$V' }, read_only: '${RO}', ports: [{ target: '${P}' }], deploy: { replicas: '${N}' }, healthcheck: { retries: '3' } } },
      networks: { n: { external: 'yes' } },
    }, { lookup: lookup({ V: 'v', RO: 'true', P: '80', N: '2' }), warn: () => {} });
    assert.deepEqual(got, {
      services: { web: { labels: { '$KEY': 'v' }, read_only: true, ports: [{ target: 80 }], deploy: { replicas: 2 }, healthcheck: { retries: 3 } } },
      networks: { n: { external: true } },
    });
  });
  test('a value that cannot be cast names its key', () => {
    assert.throws(() => interpolateTree({ services: { web: { privileged: '${X}' } } }, { lookup: () => 'maybe', warn: () => {} }),
      (e: unknown) => e instanceof ComposeError && /services\.web\.privileged.*invalid boolean: maybe/.test(e.message));
  });
  test('an unset variable is warned about once, in compose words', () => {
    const warnings: string[] = [];
    interpolateTree({ a: '${X}', b: '$X', c: '${Y:-d}' }, { lookup: () => undefined, warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, ['The "X" variable is not set. Defaulting to a blank string.']);
  });
});

describe('dotenv files', () => {
  test('comments, export, quotes, escapes, inline comments, substitution', () => {
    const text = [
      '# comment',
      'export A=1',
      'B = two words ',
      "C='single $A \\n'",
      'D="double $A\\nnext"',
      'E=${A}-${MISSING:-dflt} # trailing comment',
      'F=a#b',
      'G="multi',
      'line"',
      'H',
      'I=',
      'J="${SHELLVAR}"',
    ].join('\n');
    const vars = parseEnvText(text, '.env', (n) => ({ H: 'from-shell', SHELLVAR: 'sv' } as Record<string, string>)[n]);
    assert.deepEqual(vars, { A: '1', B: 'two words', C: 'single $A \\n', D: 'double 1\nnext', E: '1-dflt', F: 'a#b', G: 'multi\nline', H: 'from-shell', I: '', J: 'sv' });
  });
  test('a bad variable name is reported with its file and line', () => {
    assert.throws(() => parseEnvText('OK=1\nBAD KEY=2\n', '/p/.env'), { message: /\/p\/\.env: line 2/ });
  });
});

describe('extractVariables (config --variables)', () => {
  test('names, defaults, alternatives, required; nested ones; $$ is no variable', async () => {
    const { extractVariables } = await import('../../src/compose/load/variables.ts');
    const vars = extractVariables({ a: ['${A:-x${B}}', '$C and ${D?err}', '$$E', { f: '${F:+alt}' }] });
    assert.deepEqual([...vars.values()].sort((x, y) => (x.Name < y.Name ? -1 : 1)), [
      { Name: 'A', DefaultValue: 'x${B}', PresenceValue: '', Required: false },
      { Name: 'B', DefaultValue: '', PresenceValue: '', Required: false },
      { Name: 'C', DefaultValue: '', PresenceValue: '', Required: false },
      { Name: 'D', DefaultValue: '', PresenceValue: '', Required: true },
      { Name: 'F', DefaultValue: '', PresenceValue: 'alt', Required: false },
    ]);
  });
});

// compose-go's dotenv tests (dotenv/godotenv_test.go and dotenv/fixtures/*.env
// at e70e961c3a3acebf0800b882f1afb3dbf1fb74a2), as data.
describe('dotenv (compose-go dotenv cases)', () => {
  // TestParsing: [input, key, value]
  const parsing: Array<[string, string, string]> = [
    ['FOO=bar', 'FOO', 'bar'], ['FOO =bar', 'FOO', 'bar'], ['FOO= bar', 'FOO', 'bar'],
    ['FOO="bar"', 'FOO', 'bar'], ["FOO='bar'", 'FOO', 'bar'],
    ['FOO="escaped\\"bar"', 'FOO', 'escaped"bar'], ['FOO="\\"quoted\\""', 'FOO', '"quoted"'], ['FOO="\'d\'"', 'FOO', "'d'"],
    ['OPTION_A: 1', 'OPTION_A', '1'], ['OPTION_A: Foo=bar', 'OPTION_A', 'Foo=bar'], ['OPTION_A=1:B', 'OPTION_A', '1:B'],
    ['export OPTION_A=2', 'OPTION_A', '2'], ["export OPTION_B='\\n'", 'OPTION_B', '\\n'], ['export exportFoo=2', 'exportFoo', '2'],
    ['exportFOO=2', 'exportFOO', '2'], ['export_FOO =2', 'export_FOO', '2'], ['export.FOO= 2', 'export.FOO', '2'],
    ['export\tOPTION_A=2', 'OPTION_A', '2'], ['  export OPTION_A=2', 'OPTION_A', '2'], ['\texport OPTION_A=2', 'OPTION_A', '2'],
    ['export OPTION_A="export A"', 'OPTION_A', 'export A'],
    ['FOO="bar\\nbaz"', 'FOO', 'bar\nbaz'], ['FOO=a\\tb', 'FOO', 'a\\tb'], ['FOO="a\\tb"', 'FOO', 'a\tb'],
    ['KEY="Z\\aZ\\bZ\\fZ\\nZ\\rZ\\tZ\\vZ\\\\Z\\0123Z"', 'KEY', 'Z\x07Z\bZ\fZ\nZ\rZ\tZ\vZ\\ZSZ'],
    ['FOO.BAR=foobar', 'FOO.BAR', 'foobar'], ['FOO=foobar=', 'FOO', 'foobar='], ['FOO=bar ', 'FOO', 'bar'],
    ['FOO=bar # this is foo', 'FOO', 'bar'], ['FOO=bar #this is foo', 'FOO', 'bar'], ['FOO=bar #', 'FOO', 'bar'],
    ['FOO=123#not-an-inline-comment', 'FOO', '123#not-an-inline-comment'],
    ['FOO="bar#baz"', 'FOO', 'bar#baz'], ['FOO="bar#baz"#', 'FOO', 'bar#baz'], ['FOO="bar#baz" # comment', 'FOO', 'bar#baz'],
    ["FOO='bar#baz' # comment", 'FOO', 'bar#baz'], ['FOO="bar#baz#bang" # comment', 'FOO', 'bar#baz#bang'],
    ['FOO="ba#r"', 'FOO', 'ba#r'], ["FOO='ba#r'", 'FOO', 'ba#r'],
    ['FOO="bar\\n\\ b\\az"', 'FOO', 'bar\n\\ b\x07z'], ['FOO="bar\\\\\\n\\ b\\az"', 'FOO', 'bar\\\n\\ b\x07z'],
    ['FOO="bar\\\\r\\ b\\az"', 'FOO', 'bar\\r\\ b\x07z'], ['FOO="bar\\nbaz\\\\"', 'FOO', 'bar\nbaz\\'],
    ['="value"', '', 'value'],
    [' KEY =value', 'KEY', 'value'], ['   KEY=value', 'KEY', 'value'], ['\tKEY=value', 'KEY', 'value'],
    ['KEY="\\0123"', 'KEY', 'S'], ['KEY="\\x07"', 'KEY', '\\x07'], ['KEY="\\u12e4"', 'KEY', '\\u12e4'], ['KEY="\\U00101234"', 'KEY', '\\U00101234'],
  ];
  for (const [input, key, value] of parsing) {
    test(`TestParsing ${JSON.stringify(input)}`, () => assert.equal(parseEnvText(input, '.env')[key], value));
  }
  test('TestParsing: a badly formatted line is an error', () => {
    assert.throws(() => parseEnvText('lol$wut', '.env'), ComposeError);
  });
  for (const input of ['KEY="', 'KEY="value', 'KEY="value\\"', "KEY=\"value'", "KEY='", "KEY='value", "KEY='value\\'", 'KEY=\'value"']) {
    test(`TestUnterminatedQuotes ${input}`, () => assert.throws(() => parseEnvText(input, '.env'), /unterminated quoted value/));
  }
  // TestExpanding: [input, expected]
  const expanding: Array<[string, Record<string, string>]> = [
    ['FOO=test\nBAR=$FOO', { FOO: 'test', BAR: 'test' }],
    ['FOO=test\nBAR=${FOO}bar', { FOO: 'test', BAR: 'testbar' }],
    ['BAR=$FOO', { BAR: '' }],
    ['FOO=test\nBAR="quote $FOO"', { FOO: 'test', BAR: 'quote test' }],
    ["BAR='quote $FOO'", { BAR: 'quote $FOO' }],
    ['FOO="foo\\$BAR"', { FOO: 'foo$BAR' }],
    ['FOO="foo\\${BAR}"', { FOO: 'foo${BAR}' }],
    ['FOO=test\nBAR="foo\\${FOO} ${FOO}"', { FOO: 'test', BAR: 'foo${FOO} test' }],
    ['TEST_URLS="stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443"', { TEST_URLS: 'stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443' }],
  ];
  for (const [input, want] of expanding) {
    test(`TestExpanding ${JSON.stringify(input)}`, () => assert.deepEqual(parseEnvText(input, '.env'), want));
  }
  // The fixtures and what the tests expect of them.
  const fixtures: Array<[string, string, Record<string, string>]> = [
    ['plain.env', 'OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n456 = ABC\nOPTION_F = \nOPTION_G=\nOPTION_H = my string # Inline comment\n',
      { OPTION_A: '1', OPTION_B: '2', OPTION_C: '3', OPTION_D: '4', OPTION_E: '5', '456': 'ABC', OPTION_F: '', OPTION_G: '', OPTION_H: 'my string' }],
    ['exported.env', "export OPTION_A=2\nexport OPTION_B='\\n'\n", { OPTION_A: '2', OPTION_B: '\\n' }],
    ['equals.env', "export OPTION_A='postgres://localhost:5432/database?sslmode=disable'\n\n", { OPTION_A: 'postgres://localhost:5432/database?sslmode=disable' }],
    ['quoted.env', "OPTION_A='1'\nOPTION_B='2'\nOPTION_C=''\nOPTION_D='\\n'\nOPTION_E=\"1\"\nOPTION_F=\"2\"\nOPTION_G=\"\"\nOPTION_H=\"\\n\"\nOPTION_I = \"echo 'asd'\" # Inline comment\nOPTION_J = 'first line\nsecond line\nthird line\nand so on'\nOPTION_K='Let\\'s go!'\nOPTION_Z = \"last value\"\n",
      { OPTION_A: '1', OPTION_B: '2', OPTION_C: '', OPTION_D: '\\n', OPTION_E: '1', OPTION_F: '2', OPTION_G: '', OPTION_H: '\n', OPTION_I: "echo 'asd'", OPTION_J: 'first line\nsecond line\nthird line\nand so on', OPTION_K: "Let's go!", OPTION_Z: 'last value' }],
    ['unquoted.env', 'OPTION_A = "some quoted phrase"\nOPTION_B=first one with an unquoted phrase\nOPTION_C = then another one with an unquoted phrase\nOPTION_D = then another one with an unquoted phrase special è char\nOPTION_E = "then another one quoted phrase"\n',
      { OPTION_A: 'some quoted phrase', OPTION_B: 'first one with an unquoted phrase', OPTION_C: 'then another one with an unquoted phrase', OPTION_D: 'then another one with an unquoted phrase special è char', OPTION_E: 'then another one quoted phrase' }],
    ['substitutions.env', 'OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n',
      { OPTION_A: '1', OPTION_B: '1', OPTION_C: '1', OPTION_D: '1_1', OPTION_E: '' }],
    ['special.env', 'VAR.WITH.DOTS=dots\nVAR_WITH_UNDERSCORES=underscores\nVAR-WITH-DASHES=dashes\n', { 'VAR.WITH.DOTS': 'dots', VAR_WITH_UNDERSCORES: 'underscores', 'VAR-WITH-DASHES': 'dashes' }],
    ['utf8-bom.env (TestUTF8BOM)', '\ufeffOPTION_A=1\nOPTION_B=2\n', { OPTION_A: '1', OPTION_B: '2' }],
  ];
  for (const [name, text, want] of fixtures) {
    test(`fixtures/${name}`, () => assert.deepEqual(parseEnvText(text, name), want));
  }
  test('fixtures/invalid1.env (TestErrorParsing): line 7: key cannot contain a space', () => {
    assert.throws(() => parseEnvText('# some comments\nfoo="\n  a\n  multine\n  value\n"\nINVALID LINE\nzot=qix', 'invalid1.env'), /line 7: key cannot contain a space/);
  });
  // TestSubstitutionsWithEnvFilePrecedence / …DefaultValuePrecedence / …UnsetVar…: the environment comes first.
  const substitutions = 'OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n';
  const substitutionsDefault = 'OPTION_A=${OPTION_A:-1}\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n';
  const env5 = (n: string): string | undefined => (n === 'OPTION_A' ? '5' : undefined);
  test('TestSubstitutionsWithEnvFilePrecedence', () => {
    assert.deepEqual(parseEnvText(substitutions, 'e', env5), { OPTION_A: '1', OPTION_B: '5', OPTION_C: '5', OPTION_D: '5_5', OPTION_E: '' });
  });
  test('TestSubstitutionsWithEnvFileDefaultValuePrecedence', () => {
    assert.deepEqual(parseEnvText(substitutionsDefault, 'e', env5), { OPTION_A: '5', OPTION_B: '5', OPTION_C: '5', OPTION_D: '5_5', OPTION_E: '' });
  });
  test('TestSubstitutionsWithUnsetVarEnvFileDefaultValuePrecedence', () => {
    assert.deepEqual(parseEnvText(substitutionsDefault, 'e'), { OPTION_A: '1', OPTION_B: '1', OPTION_C: '1', OPTION_D: '1_1', OPTION_E: '' });
  });
  test('fixtures/inherited-multi-var.env (TestInheritedEnvVariable*): a bare key takes the environment\'s value', () => {
    const text = 'foo=bar\nVAR_TO_BE_LOADED_FROM_OS_ENV\nbar=baz';
    assert.deepEqual(parseEnvText(text, 'e', (n) => (n === 'VAR_TO_BE_LOADED_FROM_OS_ENV' ? 'SOME_RANDOM_VALUE' : undefined)), { foo: 'bar', VAR_TO_BE_LOADED_FROM_OS_ENV: 'SOME_RANDOM_VALUE', bar: 'baz' });
    assert.deepEqual(parseEnvText(text, 'e'), { foo: 'bar', bar: 'baz' });
  });
});

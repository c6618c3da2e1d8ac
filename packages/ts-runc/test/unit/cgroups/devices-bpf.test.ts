import { FakeSys } from '@tsrt/libc';
import {
  DEFAULT_DEVICE_RULES,
  deviceAllowed,
  effectiveDeviceRules,
  emulateDeviceRules,
  normalizeDeviceRule,
  v1DeviceWrites,
  type DeviceRule,
} from '../../../src/cgroups/devices';
import {
  OP,
  assembleDeviceFilter,
  attachDeviceFilter,
  encodeInsns,
  runDeviceFilter,
  BPF_PROG_LOAD,
  BPF_PROG_ATTACH,
  BPF_PROG_QUERY,
  BPF_PROG_DETACH,
  BPF_PROG_GET_FD_BY_ID,
} from '../../../src/cgroups/bpf';

const rule = (allow: boolean, type: 'a' | 'b' | 'c', major = -1, minor = -1, access = 'rwm'): DeviceRule => ({ allow, type, major, minor, access });

describe('device rules', () => {
  test('normalisation fills defaults and validates', () => {
    expect(normalizeDeviceRule({ allow: false })).toEqual(rule(false, 'a'));
    expect(normalizeDeviceRule({ allow: true, type: 'c', major: 1, minor: null, access: 'mr' })).toEqual(rule(true, 'c', 1, -1, 'rm'));
    expect(() => normalizeDeviceRule({ allow: true, access: 'rx' })).toThrow('invalid device access "rx"');
    expect(() => normalizeDeviceRule({ allow: true, type: 'p' as 'a' })).toThrow('invalid device type "p"');
  });

  test('effective rules: spec rules then runc defaults (linux.devices adds nothing, as runc)', () => {
    const r = effectiveDeviceRules([{ allow: false, access: 'rwm' }]);
    expect(r[0]).toEqual(rule(false, 'a'));
    expect(r.slice(1)).toEqual(DEFAULT_DEVICE_RULES);
    const st = emulateDeviceRules(r);
    expect(deviceAllowed(st, 'c', 10, 229, 'rw')).toBe(false);
  });

  test('emulator: "a" resets, same-verdict rules remove access, others add', () => {
    let st = emulateDeviceRules([rule(false, 'a'), rule(true, 'c', 1, 3, 'rw'), rule(true, 'c', 1, 3, 'm')]);
    expect(st).toEqual({ defaultAllow: false, exceptions: [{ type: 'c', major: 1, minor: 3, access: 'rwm' }] });
    st = emulateDeviceRules([rule(false, 'c', 1, 3, 'w')], st);
    expect(st.exceptions).toEqual([{ type: 'c', major: 1, minor: 3, access: 'rm' }]);
    st = emulateDeviceRules([rule(false, 'c', 1, 3, 'rm')], st);
    expect(st.exceptions).toEqual([]);
    st = emulateDeviceRules([rule(true, 'a'), rule(false, 'b', 8, -1, 'w')]);
    expect(st).toEqual({ defaultAllow: true, exceptions: [{ type: 'b', major: 8, minor: -1, access: 'w' }] });
  });

  test('decisions of the typical container rule set', () => {
    const st = emulateDeviceRules(effectiveDeviceRules([{ allow: false, access: 'rwm' }]));
    expect(deviceAllowed(st, 'c', 1, 3, 'rw')).toBe(true); // /dev/null
    expect(deviceAllowed(st, 'c', 1, 1, 'r')).toBe(false); // /dev/mem
    expect(deviceAllowed(st, 'b', 8, 0, 'm')).toBe(true); // mknod any block
    expect(deviceAllowed(st, 'b', 8, 0, 'r')).toBe(false);
    expect(deviceAllowed(st, 'c', 136, 7, 'rw')).toBe(true); // a pty
  });

  test('v1 writes', () => {
    expect(v1DeviceWrites([rule(true, 'a'), rule(false, 'c', 1, 1, 'rwm')]).map((w) => `${w.file} ${w.value}`)).toEqual(['devices.allow a', 'devices.deny c 1:1 rwm']);
  });
});

describe('eBPF device filter', () => {
  test('instruction by instruction for one exception of each shape', () => {
    const prog = assembleDeviceFilter({
      defaultAllow: false,
      exceptions: [
        { type: 'c', major: 1, minor: 3, access: 'rwm' },
        { type: 'c', major: 136, minor: -1, access: 'rw' },
      ],
    });
    const I = (code: number, dst: number, src: number, off: number, imm: number) => ({ code, dst, src, off, imm });
    expect(prog).toEqual([
      // prologue: r2 = type, r3 = access, r4 = major, r5 = minor
      I(OP.LDXW, 2, 1, 0, 0),
      I(OP.AND32_K, 2, 0, 0, 0xffff),
      I(OP.LDXW, 3, 1, 0, 0),
      I(OP.RSH32_K, 3, 0, 0, 16),
      I(OP.LDXW, 4, 1, 4, 0),
      I(OP.LDXW, 5, 1, 8, 0),
      // c 1:3 rwm: type, major, minor, allow
      I(OP.JNE_K, 2, 0, 4, 2),
      I(OP.JNE_K, 4, 0, 3, 1),
      I(OP.JNE_K, 5, 0, 2, 3),
      I(OP.MOV32_K, 0, 0, 0, 1),
      I(OP.EXIT, 0, 0, 0, 0),
      // c 136:* rw: type, access subset check, major, allow
      I(OP.JNE_K, 2, 0, 6, 2),
      I(OP.MOV32_X, 1, 3, 0, 0),
      I(OP.AND32_K, 1, 0, 0, 6),
      I(OP.JNE_X, 1, 3, 3, 0),
      I(OP.JNE_K, 4, 0, 2, 136),
      I(OP.MOV32_K, 0, 0, 0, 1),
      I(OP.EXIT, 0, 0, 0, 0),
      // default: deny
      I(OP.MOV32_K, 0, 0, 0, 0),
      I(OP.EXIT, 0, 0, 0, 0),
    ]);
  });

  test('encoding matches struct bpf_insn', () => {
    const buf = encodeInsns([
      { code: 0x61, dst: 2, src: 1, off: 4, imm: 0 },
      { code: 0x55, dst: 4, src: 0, off: -1, imm: 0x12345678 },
    ]);
    expect(buf.toString('hex')).toBe('6112040000000000' + '5504ffff78563412');
  });

  test('the program decides exactly like the emulator (exhaustive over a grid)', () => {
    const sets = [
      effectiveDeviceRules([{ allow: false, access: 'rwm' }]),
      effectiveDeviceRules([]),
      [rule(true, 'a'), rule(false, 'b', 8, -1, 'w'), rule(false, 'c', -1, 5, 'm')],
      [rule(false, 'a'), rule(true, 'c', 1, -1, 'r'), rule(true, 'c', 1, 5, 'w')],
    ];
    for (const rules of sets) {
      const st = emulateDeviceRules(rules);
      const prog = assembleDeviceFilter(st);
      for (const type of ['b', 'c'] as const)
        for (const major of [1, 5, 8, 10, 136])
          for (const minor of [0, 1, 3, 5, 200])
            for (const access of ['r', 'w', 'm', 'rw', 'rwm', 'wm']) {
              expect([type, major, minor, access, runDeviceFilter(prog, type, major, minor, access)]).toEqual([type, major, minor, access, deviceAllowed(st, type, major, minor, access) ? 1 : 0]);
            }
    }
  });

  test('attach: load, query, attach multi, detach the previous program', () => {
    const fake = new FakeSys();
    const progs = [42];
    fake.respond('open', () => 7);
    fake.respond('bpf', (cmd: number, attr: Buffer, ptrs?: Array<{ offset: number; data: Buffer }>) => {
      if (cmd === BPF_PROG_LOAD) return 9;
      if (cmd === BPF_PROG_QUERY) {
        attr.writeUInt32LE(2, 12); // attached with BPF_F_ALLOW_MULTI
        attr.writeUInt32LE(progs.length, 24);
        progs.forEach((id, i) => ptrs![0].data.writeUInt32LE(id, i * 4));
        return 0;
      }
      if (cmd === BPF_PROG_GET_FD_BY_ID) return 11;
      return 0;
    });
    attachDeviceFilter(fake.sys, '/sys/fs/cgroup/x', assembleDeviceFilter({ defaultAllow: false, exceptions: [] }));
    const bpf = fake.named('bpf');
    expect(bpf.map((a) => a[0])).toEqual([BPF_PROG_LOAD, BPF_PROG_QUERY, BPF_PROG_ATTACH, BPF_PROG_GET_FD_BY_ID, BPF_PROG_DETACH]);
    const load = bpf[0][1] as Buffer;
    expect(load.readUInt32LE(0)).toBe(15); // BPF_PROG_TYPE_CGROUP_DEVICE
    expect(load.readUInt32LE(4)).toBe(8); // insn count
    const attach = bpf[2][1] as Buffer;
    expect([attach.readUInt32LE(0), attach.readUInt32LE(4), attach.readUInt32LE(8), attach.readUInt32LE(12)]).toEqual([7, 9, 6, 2]);
    expect((bpf[3][1] as Buffer).readUInt32LE(0)).toBe(42);
    const detach = bpf[4][1] as Buffer;
    expect([detach.readUInt32LE(0), detach.readUInt32LE(4), detach.readUInt32LE(8)]).toEqual([7, 11, 6]);
    expect(fake.named('close').map((a) => a[0])).toEqual([11, 7, 9]);
  });

  test('a verifier rejection becomes a CgroupError with the log tail', () => {
    const fake = new FakeSys().fail('bpf', 'EINVAL');
    expect(() => attachDeviceFilter(fake.sys, '/x', assembleDeviceFilter({ defaultAllow: true, exceptions: [] }))).toThrow(/loading the device cgroup eBPF program: bpf .*EINVAL/);
  });
});

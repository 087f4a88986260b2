import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shippedHighModel, shippedModel, shippedMonitorModel, shippedStateModel } from '../../src/model/registry';

describe('shipped model registry', () => {
  it('finds a task folder only when it holds both checkpoint files', () => {
    const root = mkdtempSync(join(tmpdir(), 'models-'));
    mkdirSync(join(root, 'reach'));
    writeFileSync(join(root, 'reach', 'config.json'), '{}');
    expect(shippedModel('reach', root)).toBeUndefined();
    writeFileSync(join(root, 'reach', 'model.safetensors'), '');
    expect(shippedModel('reach', root)).toBe(join(root, 'reach'));
    expect(shippedModel('push-t', root)).toBeUndefined();
    expect(shippedHighModel('reach', root)).toBeUndefined();
    mkdirSync(join(root, 'reach-high'));
    writeFileSync(join(root, 'reach-high', 'config.json'), '{}');
    writeFileSync(join(root, 'reach-high', 'model.safetensors'), '');
    expect(shippedHighModel('reach', root)).toBe(join(root, 'reach-high'));
    expect(shippedStateModel('reach', root)).toBeUndefined();
    mkdirSync(join(root, 'reach-state'));
    writeFileSync(join(root, 'reach-state', 'config.json'), '{}');
    writeFileSync(join(root, 'reach-state', 'model.safetensors'), '');
    expect(shippedStateModel('reach', root)).toBe(join(root, 'reach-state'));
    expect(shippedMonitorModel('reach', root)).toBeUndefined();
    mkdirSync(join(root, 'reach-monitor'));
    writeFileSync(join(root, 'reach-monitor', 'config.json'), '{}');
    writeFileSync(join(root, 'reach-monitor', 'model.safetensors'), '');
    expect(shippedMonitorModel('reach', root)).toBe(join(root, 'reach-monitor'));
  });
});

import assert from 'node:assert/strict';
import { resolveOwner } from './passwd.js';

describe('builder/passwd resolveOwner (BuildKit 20.10 results)', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1001:2002::/home/app:/bin/sh\n';
  const group = 'root:x:0:\ngrp:x:2002:\nother:x:3003:\n';
  const cases: Array<[string, string]> = [
    ['app', '1001:2002'], // a name alone: the user's primary gid, not the uid
    ['app:', '1001:0'],
    ['1001', '1001:1001'],
    ['app:grp', '1001:2002'],
    ['app:other', '1001:3003'],
    ['1005', '1005:1005'],
    ['nosuch', '0:0'],
    ['app:nosuchg', '1001:2002'],
    ['root', '0:0'],
    ['1001:grp', '1001:2002'],
    [':grp', '0:2002'],
    ['7:8', '7:8'],
  ];
  for (const [spec, want] of cases) {
    it(`${spec} → ${want}`, () => {
      const o = resolveOwner(spec, passwd, group);
      assert.equal(`${o.uid}:${o.gid}`, want);
    });
  }
});

// An object's inspect (a volume's, a network's) as a folding tree, in a panel.
import { useEffect, useState } from 'preact/hooks';
import { call } from './api.ts';
import { ErrorLine, useAction } from './common.tsx';
import { JsonTree } from './json-tree.tsx';

export function InspectPanel({ path, title }: { path: string; title: string }) {
  const [value, setValue] = useState<unknown>();
  const [error, act] = useAction();
  useEffect(() => {
    setValue(undefined);
    void act(async () => setValue(await call<unknown>('GET', path)));
  }, [path]);
  return (
    <section class="panel-box" aria-label={title}>
      <h2>{title}</h2>
      <ErrorLine error={error} />
      {value !== undefined && <JsonTree value={value} label={title} />}
    </section>
  );
}


// The dashboard's shell: navigation and the hash routes of its pages.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ContainersPage } from './pages/containers.tsx';
import { ContainerPage } from './pages/container.tsx';
import { ImagesPage } from './pages/images.tsx';
import { VolumesPage } from './pages/volumes.tsx';
import { NetworksPage } from './pages/networks.tsx';
import { EventsPage } from './pages/events.tsx';
import { DiskPage } from './pages/disk.tsx';
import './style.css';

const PAGES = [
  ['containers', 'Containers'],
  ['images', 'Images'],
  ['volumes', 'Volumes'],
  ['networks', 'Networks'],
  ['disk', 'Disk usage'],
  ['events', 'Events'],
] as const;

function useRoute(): string[] {
  const parse = (): string[] => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const on = (): void => setRoute(parse());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function App() {
  const [page = 'containers', id] = useRoute();
  const title = PAGES.find(([p]) => p === page)?.[1] ?? 'Containers';
  useEffect(() => {
    document.title = `${id ? id + ' · ' : ''}${title} · berth`;
  }, [page, id]);
  return (
    <>
      <header class="top">
        <span class="brand" aria-hidden="true">berth</span>
        <nav aria-label="Sections">
          <ul>
            {PAGES.map(([p, label]) => (
              <li><a href={`#/${p}`} aria-current={p === page ? 'page' : undefined}>{label}</a></li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main">
        {page === 'containers' && id ? <ContainerPage id={id} key={id} />
          : page === 'images' ? <ImagesPage />
          : page === 'volumes' ? <VolumesPage />
          : page === 'networks' ? <NetworksPage />
          : page === 'disk' ? <DiskPage />
          : page === 'events' ? <EventsPage />
          : <ContainersPage />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);

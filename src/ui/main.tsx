// The dashboard's shell: navigation and the hash routes of its pages.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ContainersPage } from './pages/containers.tsx';
import { lazyView } from './lazy.tsx';
import './style.css';

// The other sections' code is fetched when first shown: the first page (containers) loads without it.
const ContainerPage = lazyView<{ id: string }>(() => import('./pages/container.tsx').then((m) => m.ContainerPage));
const ImagesPage = lazyView<object>(() => import('./pages/images.tsx').then((m) => m.ImagesPage));
const VolumesPage = lazyView<object>(() => import('./pages/volumes.tsx').then((m) => m.VolumesPage));
const NetworksPage = lazyView<object>(() => import('./pages/networks.tsx').then((m) => m.NetworksPage));
const DiskPage = lazyView<object>(() => import('./pages/disk.tsx').then((m) => m.DiskPage));
const EventsPage = lazyView<object>(() => import('./pages/events.tsx').then((m) => m.EventsPage));

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
    // A hash changed between the first render and this listener (a link followed while the page
    // was still mounting) would be missed, leaving the page on the previous route: read it again.
    on();
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

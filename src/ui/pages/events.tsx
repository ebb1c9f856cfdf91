// The daemon's events, live, newest first.
import { useEffect, useState } from 'preact/hooks';
import { errorText, jsonLines } from '../api.ts';
import { ErrorLine } from '../common.tsx';

interface Event { Type: string; Action: string; Actor: { ID: string; Attributes?: Record<string, string> }; time: number; timeNano: number }

export function EventsPage() {
  const [events, setEvents] = useState<Event[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    const ctl = new AbortController();
    // The last hour, then live.
    const since = Math.floor(Date.now() / 1000) - 3600;
    void jsonLines<Event>('/events', { since }, (e) => setEvents((old) => [e, ...old].slice(0, 500)), ctl.signal).catch((err) => {
      if (!ctl.signal.aborted) setError(errorText(err));
    });
    return () => ctl.abort();
  }, []);
  return (
    <section aria-labelledby="events-h">
      <h1 id="events-h">Events</h1>
      <ErrorLine error={error} />
      <table class="list">
        <caption class="sr-only">Events, newest first</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Action</th><th scope="col">Object</th></tr></thead>
        <tbody aria-live="polite">
          {events.map((e) => (
            <tr key={`${e.timeNano}-${e.Actor.ID}-${e.Action}`}>
              <td>{new Date(e.timeNano / 1e6).toLocaleTimeString()}</td>
              <td>{e.Type}</td>
              <td>{e.Action}</td>
              <td>{e.Actor.Attributes?.name ?? e.Actor.ID.slice(0, 12)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

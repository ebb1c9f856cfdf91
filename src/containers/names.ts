// Random container names in Docker's `adjective_surname` style.
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'admiring', 'agitated', 'amazing', 'blissful', 'bold', 'brave', 'busy', 'clever', 'compassionate', 'confident',
  'cool', 'dazzling', 'determined', 'eager', 'elastic', 'elegant', 'epic', 'festive', 'focused', 'friendly',
  'gallant', 'gifted', 'happy', 'hopeful', 'jolly', 'keen', 'kind', 'laughing', 'loving', 'lucid', 'modest',
  'nifty', 'nostalgic', 'objective', 'peaceful', 'pensive', 'quirky', 'relaxed', 'serene', 'sharp', 'stoic',
  'sweet', 'tender', 'trusting', 'upbeat', 'vibrant', 'wizardly', 'youthful', 'zealous', 'zen',
];

const SURNAMES = [
  'agnesi', 'allen', 'babbage', 'bardeen', 'bell', 'boole', 'cerf', 'curie', 'darwin', 'dijkstra', 'einstein',
  'euclid', 'euler', 'fermat', 'feynman', 'franklin', 'galileo', 'gauss', 'goldberg', 'hamilton', 'hopper',
  'hypatia', 'johnson', 'kepler', 'knuth', 'lamarr', 'lamport', 'liskov', 'lovelace', 'maxwell', 'meitner',
  'mirzakhani', 'newton', 'noether', 'pascal', 'ritchie', 'shannon', 'stallman', 'tesla', 'thompson',
  'torvalds', 'turing', 'wilson', 'wozniak', 'yalow',
];

export function randomName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    let name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
    if (attempt > 0) name += String(randomInt(10));
    if (!taken(name)) return name;
  }
}

/** A temp dir for a test file, with FTK_HOME (weights, exported graphs, feature cache) inside it. */
import path from 'node:path';
import { after } from 'node:test';
import { tempDir } from './images.js';

/** Creates the dir, points FTK_HOME at `<dir>/home` until the file's tests end, then restores it and removes the dir. */
export async function tempHome(prefix: string): Promise<string> {
  const { dir, cleanup } = await tempDir(prefix);
  const savedHome = process.env.FTK_HOME;
  process.env.FTK_HOME = path.join(dir, 'home');
  after(async () => {
    if (savedHome === undefined) delete process.env.FTK_HOME;
    else process.env.FTK_HOME = savedHome;
    await cleanup();
  });
  return dir;
}

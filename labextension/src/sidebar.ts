/**
 * The left sidebar panel "Models": JupyterLab's own `SidePanel`, whose accordion makes
 * each section collapsible, holding the Models, Jobs and Deployments sections.
 */
import { refreshIcon, SidePanel, ToolbarButton } from '@jupyterlab/ui-components';
import { AccordionPanel, Widget } from '@lumino/widgets';

import { DeploymentsSection } from './deployments';
import { shelfIcon } from './icons';
import { IJobActions, JobsSection } from './jobs';
import { ModelsSection } from './models';
import { SchedulesSection } from './schedules';

export class ModelshelfSidebar extends SidePanel {
  readonly models: ModelsSection;
  readonly jobs: JobsSection;
  readonly deployments: DeploymentsSection;
  readonly schedules: SchedulesSection;

  constructor(actions: IJobActions) {
    super();
    this.id = 'modelshelf-sidebar';
    this.addClass('jp-modelshelf-sidebar');
    this.title.icon = shelfIcon;
    this.title.caption = 'Models, jobs and deployments (modelshelf)';

    const heading = document.createElement('h2');
    heading.textContent = 'Models';
    this.header.addWidget(new Widget({ node: heading }));
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh models, jobs and deployments',
        onClick: () => this.refreshAll(),
        dataset: { testid: 'modelshelf-refresh' }
      })
    );

    this.models = new ModelsSection();
    this.jobs = new JobsSection(actions);
    this.deployments = new DeploymentsSection();
    this.addWidget(this.models);
    this.addWidget(this.jobs);
    this.addWidget(this.deployments);
    this.schedules = new SchedulesSection();
    this.addWidget(this.schedules);
    // Models get most of the height: a version's details are long, jobs,
    // deployments and schedules rows are short.
    (this.content as AccordionPanel).setRelativeSizes([3, 1.5, 1, 1]);
    // A job that succeeded has just saved its output model: show it.
    this.jobs.jobsSucceeded.connect(() => void this.models.refresh());
    this.models.deployed.connect(() => void this.deployments.refresh());
  }

  refreshAll(): void {
    void this.models.refresh();
    void this.jobs.refresh();
    void this.deployments.refresh();
    void this.schedules.refresh();
  }
}

import './base.css';
import './upload.css';
import './page.css';

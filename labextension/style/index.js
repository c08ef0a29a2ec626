import './base.css';
import './upload.css';
